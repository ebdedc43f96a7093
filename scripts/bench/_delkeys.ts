import { Redis } from 'ioredis';
import { deleteKeys } from './lib.ts';
const r = new Redis();
console.log(await deleteKeys(r, process.argv[2]));
await r.quit();
