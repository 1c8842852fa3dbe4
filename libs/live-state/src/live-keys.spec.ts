import { liveKeys } from './live-keys';

describe('liveKeys', () => {
  it('starts every key and the channel with the prefix', () => {
    const keys = liveKeys('sy:');
    expect(keys.live('j1')).toBe('sy:job:j1:live');
    expect(keys.events('j1')).toBe('sy:job:j1:events');
    expect(keys.channel).toBe('sy:events');
  });
});
