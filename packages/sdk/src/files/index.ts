/**
 * files: crash-safe file writes (temp, fsync, rename, directory fsync; secrets with mode 0600
 * from creation), size-capped reads, and credential pairs (certificate + key) swapped together
 * through one symlink so a reader never sees a mismatched pair. Never chmod after writing and
 * never leave a torn file.
 */
export { writeFileAtomic, syncDirectory, readFileCapped, type WriteAtomicOptions } from './atomic.js';
export {
  writeCredentialPair,
  readCredentialPair,
  credentialStoreDir,
  type CredentialPairPaths,
  type CredentialPairContent,
  type WritePairOptions,
  type WrittenPair,
  type ReadPair,
} from './pair.js';
