// A pki worker body that dies on its first batch of requests: what a crashed thread looks like to the pool.
import { parentPort } from 'node:worker_threads';

parentPort.once('message', () => {
  throw new Error('pki test worker: dying on purpose');
});
