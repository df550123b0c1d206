/** The most of a guest's own words (stderr) quoted in an error or a log line. */
export const MAX_GUEST_TEXT = 512;
/** A service secret as the images write it: printable ASCII without spaces, 1 to this long. */
const SECRET = /^[\x21-\x7e]{1,1024}$/;

/**
 * Guest output fit to quote in an error message or a log: control characters (terminal escape
 * sequences included) replaced, cut to MAX_GUEST_TEXT characters, trimmed.
 */
export function guestText(bytes: Buffer | string): string {
  const s = (typeof bytes === 'string' ? bytes : bytes.subarray(0, MAX_GUEST_TEXT * 4).toString('utf8')).trim();
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  const clean = s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '\ufffd');
  return clean.length > MAX_GUEST_TEXT ? `${clean.slice(0, MAX_GUEST_TEXT)}…` : clean;
}

/**
 * A service secret read from the guest, checked before it is stored and handed to clients:
 * the trimmed file must be printable ASCII without spaces (what the images generate), else the
 * reason it was refused.
 */
export function guestSecret(file: Buffer): { secret: string } | { refused: string } {
  const s = file.toString('latin1').trim();
  if (s === '') return { refused: 'empty' };
  if (!SECRET.test(s)) return { refused: s.length > 1024 ? 'longer than 1024 characters' : 'not printable ASCII without spaces' };
  return { secret: s };
}
