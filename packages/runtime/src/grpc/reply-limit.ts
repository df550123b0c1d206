/**
 * The largest reply a banger daemon sends, and so the most every banger client accepts. grpc's
 * default receive limit is 4 MiB, while ExecVm answers up to 16 MiB of each of stdout and
 * stderr: with this limit on both ends, no reply the server may send is refused by a client.
 * clients/python/banger_client/client.py carries the same number.
 */
export const MAX_REPLY_BYTES = (32 << 20) + (64 << 10);
