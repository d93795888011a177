/* zlib (gzip/deflate bodies), brotli and zstd (br/zstd bodies: libbrotli-dev, libzstd-dev) and
 * OpenSSL libcrypto (SHA-256, HMAC) for the decode and redact stages. */
#include <zlib.h>
#include <brotli/decode.h>
#include <zstd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
