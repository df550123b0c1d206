/**
 * The guest side of a file copy: shell scripts run by qemu-guest-agent as root, with every
 * value as a positional parameter (never spliced into the text), and a Perl listener (the
 * guest's perl-base) that accepts one TCP connection, checks its token and hands the socket to
 * tar as stdin or stdout. Perl only moves a descriptor; tar does the copying at kernel speed.
 */

/** Exit codes the scripts use; the channel maps each to a typed error. */
export const COPY_EXIT = {
  notADirectory: 65,
  notFound: 66,
  tempDir: 67,
  tar: 68,
  emptyArchive: 69,
  move: 70,
  isADirectory: 71,
} as const;

/**
 * tar's record size, in 512-byte blocks. Under TCG every guest syscall is expensive, and tar's
 * default 10 KiB records cost about half of the copy (bench/files.ts, docs/files.md). Extraction
 * reads 1 MiB records (-B: a socket returns short reads); creation writes 64 KiB ones, since tar
 * pads its last record with zeros and a small file should not cost a megabyte of them.
 */
export const TAR_RECORD_BLOCKS = { extract: 2048, create: 128 } as const;

/** argv: TOKEN in|out COMMAND... ; prints the port it listens on, gives up after 60 s without the right token. */
export const LISTENER = `use strict; use IO::Socket::INET;
my ($tok, $dir, @cmd) = @ARGV;
my $l = IO::Socket::INET->new(Listen => 4, LocalAddr => '0.0.0.0', LocalPort => 0, Proto => 'tcp') or die "banger-cp: cannot listen: $!\\n";
$| = 1; print $l->sockport, "\\n";
$SIG{ALRM} = sub { die "banger-cp: no connection with the copy's token within 60 s\\n" }; alarm 60;
for (;;) {
  my $c = $l->accept or next;
  my $got = '';
  while (length($got) < length($tok)) { my $n = sysread($c, $got, length($tok) - length($got), length($got)); last if !$n; }
  if ($got ne $tok) { close $c; next; }
  alarm 0; close $l;
  if ($dir eq 'in') { open(STDIN, '<&', $c) or die "banger-cp: $!\\n"; } else { open(STDOUT, '>&', $c) or die "banger-cp: $!\\n"; }
  close $c;
  exec { $cmd[0] } @cmd or die "banger-cp: cannot run $cmd[0]: $!\\n";
}`;

/**
 * argv: DEST MUST_BE_DIR NAME TOKEN LISTENER. Like \`cp -a\`: into DEST when it is a directory,
 * else as DEST. Extracts into a fresh directory beside the result, removed on any exit, and
 * moves the tree into place only after tar succeeded. Prints the port, then the final path.
 */
export const UPLOAD_SCRIPT = `set -u
dest=$1 mustdir=$2 name=$3 tok=$4 listener=$5
fail() { code=$1; shift; printf 'banger-cp: %s\\n' "$*" >&2; exit "$code"; }
if [ -d "$dest" ]; then
  parent=$dest; final=\${dest%/}/$name
else
  [ -e "$dest" ] && [ "$mustdir" = 1 ] && fail ${COPY_EXIT.notADirectory} "$dest: not a directory"
  [ "$mustdir" = 1 ] && fail ${COPY_EXIT.notFound} "$dest: no such directory"
  parent=$(dirname -- "$dest"); final=$dest
  [ -e "$parent" ] || fail ${COPY_EXIT.notFound} "$parent: no such directory"
  [ -d "$parent" ] || fail ${COPY_EXIT.notADirectory} "$parent: not a directory"
fi
tmp=$(mktemp -d -- "\${parent%/}/.banger-cp.XXXXXX") || fail ${COPY_EXIT.tempDir} "cannot make a temporary directory in $parent"
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 143' INT TERM HUP
perl -e "$listener" "$tok" in tar -x -b ${TAR_RECORD_BLOCKS.extract} -B -f - -p --same-owner --numeric-owner -C "$tmp" || exit ${COPY_EXIT.tar}
src=$tmp/$name
[ -e "$src" ] || [ -L "$src" ] || fail ${COPY_EXIT.emptyArchive} "the archive held nothing named $name"
if [ -d "$src" ] && [ ! -L "$src" ]; then
  if [ -d "$final" ] && [ ! -L "$final" ]; then cp -a -T -- "$src" "$final" || fail ${COPY_EXIT.move} "cannot merge into $final"
  elif [ -e "$final" ] || [ -L "$final" ]; then fail ${COPY_EXIT.notADirectory} "$final: exists and is not a directory"
  else mv -T -- "$src" "$final" || fail ${COPY_EXIT.move} "cannot move into $final"; fi
else
  [ -d "$final" ] && [ ! -L "$final" ] && fail ${COPY_EXIT.isADirectory} "$final: is a directory"
  mv -T -f -- "$src" "$final" || fail ${COPY_EXIT.move} "cannot move into $final"
fi
printf '%s\\n' "$final"`;

/** argv: SOURCE TOKEN LISTENER. Streams SOURCE as GNU tar with numeric owners, its base name on top. */
export const DOWNLOAD_SCRIPT = `set -u
src=$1 tok=$2 listener=$3
if [ ! -e "$src" ] && [ ! -L "$src" ]; then printf 'banger-cp: %s: no such file or directory\\n' "$src" >&2; exit ${COPY_EXIT.notFound}; fi
dir=$(dirname -- "$src"); base=$(basename -- "$src")
exec perl -e "$listener" "$tok" out tar -c -b ${TAR_RECORD_BLOCKS.create} -f - --numeric-owner -C "$dir" -- "$base"`;
