import { runVmd } from './daemon.js';

await runVmd();
