/**
 * files: crash-safe file writes (temp, fsync, rename, directory fsync; secrets with mode 0600
 * from creation) and size-capped reads. Never chmod after writing and never leave a torn file.
 */
export { writeFileAtomic, syncDirectory, readFileCapped, type WriteAtomicOptions } from './atomic.js';
