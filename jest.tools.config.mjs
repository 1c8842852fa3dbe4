// `npm run test:tools`: the checks that run upstream tools outside npm (promtool, a compose CLI,
// amqp-publish), which `npm test` replaces with npm packages. .ci/run installs the tools and runs
// both. Same transform and module mapping as jest.config.js.
import config from './jest.config.js';

const {
  displayName: _name,
  testMatch: _match,
  testPathIgnorePatterns: _ignore,
  ...base
} = config.projects[0];

export default {
  projects: [{ ...base, displayName: 'tools', testMatch: ['<rootDir>/{apps,libs,e2e}/**/*.tools.ts'] }],
};
