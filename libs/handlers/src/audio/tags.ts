/** The `tags` object of an `audio.analyze` result (SPEC §7); absent tags are null. */
export interface AudioTags {
  title: string | null;
  artist: string | null;
  album: string | null;
  year: number | null;
  genre: string | null;
  track: number | null;
}

/**
 * The subset of music-metadata's `ICommonTagsResult` we read, typed structurally so this module
 * does not load the ESM-only package.
 */
export interface CommonTagsLike {
  title?: string;
  artist?: string;
  artists?: string[];
  album?: string;
  year?: number;
  date?: string;
  genre?: string[];
  track?: { no: number | null };
}

const text = (value: string | undefined): string | null => {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
};

/** Maps music-metadata's common tags to the result's `tags`. */
export function tagsFromCommon(common: CommonTagsLike): AudioTags {
  const fromDate = common.date ? Number.parseInt(common.date.slice(0, 4), 10) : Number.NaN;
  const year = common.year ?? (Number.isFinite(fromDate) ? fromDate : null);
  const genre = (common.genre ?? []).map((g) => g.trim()).filter((g) => g.length > 0);
  return {
    title: text(common.title),
    artist: text(common.artist) ?? text(common.artists?.join(', ')),
    album: text(common.album),
    year: year !== null && year > 0 ? year : null,
    genre: genre.length > 0 ? genre.join(', ') : null,
    track: common.track?.no ?? null,
  };
}

/** Bytes kept for the name before the extension; ext4 and most filesystems allow 255. */
export const MAX_FILENAME_BYTES = 200;

// Control characters (C0, DEL, C1), plus bidi overrides and zero-width characters that can
// disguise a name's real extension.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
/** Reserved on Windows or path separators anywhere. */
const RESERVED = /[<>:"/\\|?*]/g;
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

function clean(value: string | null | undefined): string {
  if (!value) return '';
  return value
    .normalize('NFC')
    .replace(CONTROL, ' ')
    .replace(RESERVED, '_')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^[.\s]+|[.\s]+$/g, '');
}

/** Cuts to at most `maxBytes` of UTF-8 without splitting a character. */
function truncateUtf8(value: string, maxBytes: number): string {
  if (Buffer.byteLength(value, 'utf8') <= maxBytes) return value;
  let out = '';
  let bytes = 0;
  for (const ch of value) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > maxBytes) break;
    out += ch;
    bytes += size;
  }
  return out.replace(/[.\s]+$/, '');
}

/**
 * A safe file name from tags: "Artist - Title.ext", or "Title.ext" without an artist; without a
 * title, the cleaned `fallbackBase` (the input's base name without extension), else "audio".
 * Control characters and separators are removed, reserved characters become "_", leading and
 * trailing dots and spaces are dropped, Windows device names get a "_" suffix, and the name is cut
 * to MAX_FILENAME_BYTES of UTF-8 before the extension.
 */
export function suggestFilename(
  tags: Partial<Pick<AudioTags, 'artist' | 'title' | 'album' | 'track' | 'year'>>,
  fallbackBase: string,
  ext: string,
): string {
  const title = clean(tags.title);
  const artist = clean(tags.artist);
  let base = title ? (artist ? `${artist} - ${title}` : title) : '';
  if (!base) {
    // Only the last path segment of the fallback, in case a caller passes a path.
    const segments = fallbackBase.split(/[/\\]/);
    base = clean(segments[segments.length - 1]);
  }
  base = truncateUtf8(base, MAX_FILENAME_BYTES) || 'audio';
  if (WINDOWS_DEVICE.test(base)) base = `${base}_`;
  const extension = ext
    .replace(/^\.+/, '')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')
    .slice(0, 10);
  return extension ? `${base}.${extension}` : base;
}
