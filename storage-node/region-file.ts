// Opening the region file: read the superblock, check it against the
// requested layout, or initialise a brand-new (all-zero) region.
import * as fs from 'fs';
import { randomUUID } from 'crypto';
import { Region } from '../addon';
import {
  decodeSuperblock,
  encodeSuperblock,
  FORMAT_VERSION,
  PAGE_BYTES,
  RegionGeometry,
  SEGMENT_HEADER_PAGE_BYTES,
  Superblock,
  SUPERBLOCK_BYTES,
  SUPERBLOCK_MAGIC,
} from './layout';
import { StorageError } from './storage-error';

export type Durability = 'none' | 'flush' | 'sync';

export function openRegion(path: string, geometry: RegionGeometry, durability: Durability): { region: Region; superblock: Superblock } {
  const firstPage = readFirstPage(path);
  const read = firstPage ? decodeSuperblock(firstPage) : ({ kind: 'empty' } as const);
  if (read.kind === 'foreign') {
    throw new StorageError('CORRUPT_REGION', `${path} is not an rdmq storage region: ${read.reason}; delete it or choose another path`);
  }
  if (read.kind === 'valid') {
    const sb = read.superblock;
    if (sb.formatVersion !== FORMAT_VERSION) {
      const hint =
        sb.formatVersion < FORMAT_VERSION
          ? 'version 1 regions hold fixed-size segments and are not converted; read its data out with the rdmq release that wrote it, then start on a new data directory'
          : 'it was written by a newer rdmq';
      throw new StorageError('UNSUPPORTED_VERSION', `${path} has region format version ${sb.formatVersion}; this build reads version ${FORMAT_VERSION}: ${hint}`);
    }
    if (sb.regionSizeBytes !== geometry.regionSizeBytes) {
      throw new StorageError(
        'LAYOUT_MISMATCH',
        `${path} was created with region size ${sb.regionSizeBytes} bytes, but ${geometry.regionSizeBytes} bytes was requested; use the region's size or another path`,
      );
    }
    if (sb.slotSizeBytes !== geometry.slotSizeBytes || sb.slotCount !== geometry.slotCount || sb.slotsOffset !== geometry.slotsOffset || sb.segmentHeaderBytes !== SEGMENT_HEADER_PAGE_BYTES) {
      throw new StorageError(
        'LAYOUT_MISMATCH',
        `${path} has ${sb.slotCount} slots of ${sb.slotSizeBytes} bytes at offset ${sb.slotsOffset} with ${sb.segmentHeaderBytes}-byte headers; this build computes ${geometry.slotCount} of ${geometry.slotSizeBytes} at ${geometry.slotsOffset} with ${SEGMENT_HEADER_PAGE_BYTES}`,
      );
    }
    const fileSizeBytes = fs.statSync(path).size;
    if (fileSizeBytes < sb.regionSizeBytes) {
      throw new StorageError('CORRUPT_REGION', `${path} is ${fileSizeBytes} bytes, shorter than its region size ${sb.regionSizeBytes}: it was truncated`);
    }
    return { region: Region.open(path, sb.regionSizeBytes), superblock: sb };
  }
  const region = Region.create(path, geometry.regionSizeBytes);
  try {
    return { region, superblock: initialiseSuperblock(region, geometry, durability) };
  } catch (err) {
    region.close();
    throw err;
  }
}

function readFirstPage(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StorageError('CORRUPT_REGION', `cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const page = Buffer.alloc(PAGE_BYTES);
    fs.readSync(fd, page, 0, PAGE_BYTES, 0);
    return page; // a short file reads as zeros past its end
  } finally {
    fs.closeSync(fd);
  }
}

// The magic goes in last: a crash before it leaves a page that is either all
// zero (initialised again) or refused as foreign, never half-trusted.
function initialiseSuperblock(region: Region, geometry: RegionGeometry, durability: Durability): Superblock {
  const superblock: Superblock = {
    formatVersion: FORMAT_VERSION,
    segmentHeaderBytes: SEGMENT_HEADER_PAGE_BYTES,
    regionSizeBytes: geometry.regionSizeBytes,
    slotSizeBytes: geometry.slotSizeBytes,
    slotCount: geometry.slotCount,
    slotsOffset: geometry.slotsOffset,
    nodeUuid: randomUUID(),
    createdAtMs: Date.now(),
  };
  const page = encodeSuperblock(superblock);
  const view = region.bytes(0, SUPERBLOCK_BYTES);
  page.copy(view, SUPERBLOCK_MAGIC.length, SUPERBLOCK_MAGIC.length);
  if (durability !== 'none') region.persist(0, SUPERBLOCK_BYTES);
  page.copy(view, 0, 0, SUPERBLOCK_MAGIC.length);
  if (durability !== 'none') region.persist(0, SUPERBLOCK_BYTES);
  return superblock;
}
