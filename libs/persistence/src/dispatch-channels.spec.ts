import { parseClaimed } from './dispatch-channels';

describe('parseClaimed', () => {
  it('reads `<count>:<queue>`, the queue being everything after the first colon', () => {
    expect(parseClaimed('3:default')).toEqual({ queue: 'default', count: 3 });
    expect(parseClaimed('12:reports:eu')).toEqual({ queue: 'reports:eu', count: 12 });
  });

  it('refuses what is not a claim notification', () => {
    for (const payload of ['default', ':default', 'x:default', '-1:default', '1.5:default', '']) {
      expect(parseClaimed(payload)).toBeNull();
    }
  });
});
