// Random token parts, shaped like each provider's identifiers.

import { randomBytes } from 'node:crypto';

export const rand = (bytes: number): string => randomBytes(bytes).toString('base64url');
export const randHex = (bytes: number): string => randomBytes(bytes).toString('hex');
export const randDigits = (n: number): string => {
  let s = '';
  const b = randomBytes(n);
  for (let i = 0; i < n; i++) s += String(b[i] % 10);
  return s;
};
export const randAlnumUpper = (n: number): string => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const b = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += abc[b[i] % abc.length];
  return s;
};
