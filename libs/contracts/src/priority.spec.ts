import { parsePriority } from './priority';

describe('parsePriority', () => {
  it.each([
    [0, 0],
    [9, 9],
    ['low', 2],
    ['normal', 5],
    ['high', 7],
    ['critical', 9],
  ])('maps %p to %p', (input, expected) => expect(parsePriority(input)).toBe(expected));

  it.each([10, -1, 2.5, 'urgent', 'toString', null])('rejects %p', (input) => {
    expect(parsePriority(input)).toBeUndefined();
  });
});
