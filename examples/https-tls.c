/*
 * https-tls.c — the TLS side of the example HTTPS server: the server context
 * (TLS 1.2 and 1.3 only) and, when no certificate is given, a self-signed
 * one made in memory at start-up so the server runs with zero setup.
 *
 * DESIGN
 * Everything here runs once, on the main thread, before the server forks its
 * --processes children and before the pool starts its workers, so each
 * process serves the same certificate and prints the same fingerprint.
 * The generated key is ECDSA P-256 (fast to make and to sign with); the
 * certificate names localhost, 127.0.0.1 and ::1 and lives one year.
 * The code uses only calls present in both OpenSSL 1.1.1 and 3.x.
 */
#include "config.h"
#include "https-server.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

/* TLS 1.2: forward secrecy and AEAD only.  TLS 1.3 suites are all AEAD. */
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"
#define TLS13_SUITES \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

static void
tls_fail(const char *what)
{
	fprintf(stderr, "https-server: %s failed\n", what);
	ERR_print_errors_fp(stderr);
}

static EVP_PKEY *
make_key(void)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
	EVP_PKEY *key = NULL;

	if (!pctx || EVP_PKEY_keygen_init(pctx) <= 0 ||
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(pctx,
						   NID_X9_62_prime256v1) <= 0 ||
	    EVP_PKEY_keygen(pctx, &key) <= 0) {
		tls_fail("generating the P-256 key");
		key = NULL;
	}
	EVP_PKEY_CTX_free(pctx);
	return key;
}

static int
add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	return ok;
}

static X509 *
make_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX v3;
	BIGNUM *serial = BN_new();
	int ok;

	ok = x && serial && X509_set_version(x, 2) &&
	     BN_rand(serial, 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
	     BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
	     X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) &&
	     X509_set_pubkey(x, key);
	if (ok) {
		name = X509_get_subject_name(x);
		ok = X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
			(const unsigned char *)"libevpool example", -1, -1, 0) &&
		     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
			(const unsigned char *)"localhost", -1, -1, 0) &&
		     X509_set_issuer_name(x, name);
	}
	if (ok) {
		X509V3_set_ctx_nodb(&v3);
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		ok = add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") &&
		     add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") &&
		     add_ext(x, &v3, NID_ext_key_usage, "serverAuth") &&
		     add_ext(x, &v3, NID_subject_key_identifier, "hash") &&
		     add_ext(x, &v3, NID_subject_alt_name,
			     "DNS:localhost,IP:127.0.0.1,IP:::1") &&
		     X509_sign(x, key, EVP_sha256()) > 0;
	}
	BN_free(serial);
	if (!ok) {
		tls_fail("making the self-signed certificate");
		X509_free(x);
		return NULL;
	}
	return x;
}

static int
fingerprint(X509 *cert, char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0, i;

	if (!cert || !X509_digest(cert, EVP_sha256(), md, &n) ||
	    outlen < (size_t)n * 3)
		return -1;
	for (i = 0; i < n; i++)
		snprintf(out + 3 * i, 4, "%02X%s", md[i], i + 1 < n ? ":" : "");
	return 0;
}

/* Choose "http/1.1" if the client offers it; a client that offers only
 * other protocols goes on without ALPN (as nginx does), not with an alert. */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
	    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";
	unsigned char *sel = NULL;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in,
				  inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *
tls_context_new(const char *cert_file, const char *key_file,
		struct tls_identity *id)
{
	SSL_CTX *ctx;

	memset(id, 0, sizeof(*id));
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		tls_fail("SSL_CTX_new");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
	    !SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES)) {
		tls_fail("configuring TLS versions and ciphers");
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	/* Idle connections keep no TLS buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* ALPN: we speak HTTP/1.1 only (h2 clients fall back to it). */
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);

	if (cert_file) {
		if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
			tls_fail(cert_file);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key_file,
						SSL_FILETYPE_PEM) != 1) {
			tls_fail(key_file);
			goto fail;
		}
	} else {
		id->key = make_key();
		id->cert = id->key ? make_cert(id->key) : NULL;
		if (!id->cert)
			goto fail;
		if (SSL_CTX_use_certificate(ctx, id->cert) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, id->key) != 1) {
			tls_fail("installing the certificate");
			goto fail;
		}
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_fail("the key does not match the certificate:");
		goto fail;
	}
	if (fingerprint(SSL_CTX_get0_certificate(ctx), id->fingerprint,
			sizeof(id->fingerprint)) < 0) {
		tls_fail("X509_digest");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	tls_identity_clear(id);
	return NULL;
}

void
tls_identity_clear(struct tls_identity *id)
{
	X509_free(id->cert);
	EVP_PKEY_free(id->key);
	id->cert = NULL;
	id->key = NULL;
}
