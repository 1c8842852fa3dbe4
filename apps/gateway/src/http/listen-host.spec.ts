import { gatewayListenHost } from './listen-host';

describe('gatewayListenHost', () => {
  it('is loopback outside production, every interface in production, GATEWAY_HOST when set', () => {
    expect(gatewayListenHost({ NODE_ENV: 'development' })).toBe('127.0.0.1');
    expect(gatewayListenHost({ NODE_ENV: 'test' })).toBe('127.0.0.1');
    expect(gatewayListenHost({ NODE_ENV: 'production' })).toBe('0.0.0.0');
    expect(gatewayListenHost({ NODE_ENV: 'development', GATEWAY_HOST: '0.0.0.0' })).toBe('0.0.0.0');
    expect(gatewayListenHost({ NODE_ENV: 'production', GATEWAY_HOST: '10.0.0.5' })).toBe('10.0.0.5');
  });
});
