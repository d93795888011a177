/* zlib (gzip/deflate bodies) and OpenSSL libcrypto (SHA-256, HMAC) for the decode and redact stages. */
#include <zlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
