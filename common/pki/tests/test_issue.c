/*
 * test_issue.c - rg_pki's CA and leaf issuance, checked with mbedTLS itself:
 * the chain verifies, a leaf of another CA does not, CN / OU / SAN / EKU /
 * basicConstraints / keyUsage are what docs/pki.md says, keys are 0600 and
 * never replaced silently, an identity never changes kind, and a failing
 * random source leaves nothing behind. Needs no tools or servers.
 */
#include "tmpdir.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/pki.h"

struct fixture {
	char dir[512];
	char err[PKI_ERR_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (!f || tmpdir_make(f->dir, sizeof f->dir, "pki") < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void path_of(char *buf, size_t cap, const char *dir, const char *name)
{
	assert_true(snprintf(buf, cap, "%s/%s", dir, name) < (int)cap);
}

static void make_ca(struct fixture *f, const char *dir, const char *tenant)
{
	struct pki_ca_params p = {.tenant = tenant};
	int rc = pki_ca_create(dir, &p, f->err, sizeof f->err);
	if (rc)
		fail_msg("pki_ca_create: %s", f->err);
}

static void issue(struct fixture *f, const char *dir, enum pki_kind kind, const char *id,
		  const char *store)
{
	static const char *const sans[] = {"localhost", "127.0.0.1", "::1"};
	struct pki_issue_params p = {.kind = kind, .id = id, .store = store};
	if (kind == PKI_KIND_BROKER) {
		p.sans = sans;
		p.n_sans = 3;
	}
	int rc = pki_cert_issue(dir, &p, f->err, sizeof f->err);
	if (rc)
		fail_msg("pki_cert_issue %s: %s", id, f->err);
}

static void load_crt(mbedtls_x509_crt *c, const char *dir, const char *name)
{
	char path[1024];
	path_of(path, sizeof path, dir, name);
	mbedtls_x509_crt_init(c);
	assert_int_equal(mbedtls_x509_crt_parse_file(c, path), 0);
}

static uint32_t verify(mbedtls_x509_crt *leaf, mbedtls_x509_crt *ca, const char *cn)
{
	uint32_t flags = 0;
	mbedtls_x509_crt_verify(leaf, ca, NULL, cn, &flags, NULL, NULL);
	return flags;
}

static int has_eku(const mbedtls_x509_crt *c, const char *oid, size_t len)
{
	return mbedtls_x509_crt_check_extended_key_usage(c, oid, len) == 0;
}

static mode_t mode_of(const char *dir, const char *name)
{
	char path[1024];
	struct stat st;
	path_of(path, sizeof path, dir, name);
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void chain_verifies_and_extensions_are_as_documented(void **state)
{
	struct fixture *f = *state;
	mbedtls_x509_crt ca, dev, gw, cloud, broker;
	struct pki_cert_info info;
	char path[1024];

	make_ca(f, f->dir, "acme");
	issue(f, f->dir, PKI_KIND_DEVICE, "dev-0042-k1", "0042");
	issue(f, f->dir, PKI_KIND_GATEWAY, "gw-0042", "0042");
	issue(f, f->dir, PKI_KIND_CLOUD, "cloud-1", NULL);
	issue(f, f->dir, PKI_KIND_BROKER, "broker-0042", "0042");
	load_crt(&ca, f->dir, "ca.crt");
	load_crt(&dev, f->dir, "dev-0042-k1.crt");
	load_crt(&gw, f->dir, "gw-0042.crt");
	load_crt(&cloud, f->dir, "cloud-1.crt");
	load_crt(&broker, f->dir, "broker-0042.crt");

	/* The CA: self-signed, CA:true pathlen 0, keyCertSign|cRLSign. */
	assert_int_equal(verify(&ca, &ca, NULL), 0);
	assert_true(ca.ca_istrue);
	assert_int_equal(ca.max_pathlen, 1); /* mbedTLS stores pathlen + 1 */
	assert_int_equal(mbedtls_x509_crt_check_key_usage(&ca, MBEDTLS_X509_KU_KEY_CERT_SIGN |
								   MBEDTLS_X509_KU_CRL_SIGN),
			 0);
	char dn[256];
	assert_true(mbedtls_x509_dn_gets(dn, sizeof dn, &ca.subject) > 0);
	assert_non_null(strstr(dn, "CN=acme Regulars CA"));
	assert_non_null(strstr(dn, "O=acme"));

	/* Every leaf chains to it; CN is the identity; EKU by kind. */
	assert_int_equal(verify(&dev, &ca, "dev-0042-k1"), 0);
	assert_int_equal(verify(&gw, &ca, "gw-0042"), 0);
	assert_int_equal(verify(&cloud, &ca, "cloud-1"), 0);
	assert_int_equal(verify(&broker, &ca, "localhost"), 0);
	assert_true(verify(&broker, &ca, "evil.example") & MBEDTLS_X509_BADCERT_CN_MISMATCH);
	assert_true(verify(&dev, &ca, "dev-0042-k2") & MBEDTLS_X509_BADCERT_CN_MISMATCH);
	assert_false(dev.ca_istrue);
	assert_true(
	    has_eku(&dev, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
	assert_false(
	    has_eku(&dev, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
	assert_true(
	    has_eku(&gw, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
	assert_true(
	    has_eku(&cloud, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
	assert_true(
	    has_eku(&broker, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
	assert_false(
	    has_eku(&broker, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
	assert_int_equal(mbedtls_x509_crt_check_key_usage(&dev, MBEDTLS_X509_KU_DIGITAL_SIGNATURE),
			 0);

	/* Serials: 16 random bytes, positive, all different. */
	assert_int_equal(dev.serial.len, 16);
	assert_true(dev.serial.p[0] < 0x80);
	assert_memory_not_equal(dev.serial.p, gw.serial.p, 16);

	/* What Regulars reads back. */
	path_of(path, sizeof path, f->dir, "broker-0042.crt");
	assert_int_equal(pki_cert_info_read(path, &info, f->err, sizeof f->err), 0);
	assert_string_equal(info.cn, "broker-0042");
	assert_int_equal(info.kind, PKI_KIND_BROKER);
	assert_string_equal(info.store, "0042");
	assert_string_equal(info.tenant, "acme");
	assert_string_equal(info.sans, "localhost,127.0.0.1,::1");
	assert_true(info.server_auth);
	assert_false(info.client_auth);
	path_of(path, sizeof path, f->dir, "cloud-1.crt");
	assert_int_equal(pki_cert_info_read(path, &info, f->err, sizeof f->err), 0);
	assert_int_equal(info.kind, PKI_KIND_CLOUD);
	assert_string_equal(info.store, "");
	assert_true(info.client_auth);
	assert_string_equal(info.sans, "");
	/* Two years by default, backdated one hour for slow clocks. */
	assert_true(info.not_after - info.not_before >= 730 * 86400);
	assert_true(info.not_after - info.not_before <= 730 * 86400 + 3601);
	path_of(path, sizeof path, f->dir, "ca.crt");
	assert_int_equal(pki_cert_info_read(path, &info, f->err, sizeof f->err), 0);
	assert_true(info.is_ca);
	assert_true(info.not_after - info.not_before >= 3650LL * 86400);

	assert_int_equal(mode_of(f->dir, "ca.key"), 0600);
	assert_int_equal(mode_of(f->dir, "dev-0042-k1.key"), 0600);
	assert_int_equal(mode_of(f->dir, "dev-0042-k1.crt"), 0644);
	assert_int_equal(pki_cert_verify(f->dir, "dev-0042-k1", NULL, f->err, sizeof f->err), 0);

	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&dev);
	mbedtls_x509_crt_free(&gw);
	mbedtls_x509_crt_free(&cloud);
	mbedtls_x509_crt_free(&broker);
}

static void leaf_of_another_ca_does_not_verify(void **state)
{
	struct fixture *f = *state;
	char other[600], src[1024], dst[1024];
	mbedtls_x509_crt ca, foreign;
	struct pki_cert_info *list = NULL;

	make_ca(f, f->dir, "acme");
	issue(f, f->dir, PKI_KIND_DEVICE, "dev-1", "0042");
	snprintf(other, sizeof other, "%s/other", f->dir);
	make_ca(f, other, "acme"); /* same tenant name, different key */
	issue(f, other, PKI_KIND_DEVICE, "dev-9", "0042");

	load_crt(&ca, f->dir, "ca.crt");
	load_crt(&foreign, other, "dev-9.crt");
	assert_true(verify(&foreign, &ca, NULL) & MBEDTLS_X509_BADCERT_NOT_TRUSTED);

	/* Dropped into the first directory, it is listed as untrusted. */
	path_of(src, sizeof src, other, "dev-9.crt");
	path_of(dst, sizeof dst, f->dir, "dev-9.crt");
	assert_int_equal(link(src, dst), 0);
	assert_int_equal(pki_cert_verify(f->dir, "dev-9", NULL, f->err, sizeof f->err),
			 RG_ERR_VERIFY);
	assert_non_null(strstr(f->err, "does not chain"));
	int n = pki_dir_list(f->dir, &list, f->err, sizeof f->err);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].cn, "dev-1");
	assert_true(list[0].trusted);
	assert_string_equal(list[1].cn, "dev-9");
	assert_false(list[1].trusted);
	free(list);
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&foreign);
}

static int count_entries(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void bad_identities_and_parameters_are_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const good_san[] = {"localhost"};
	static const char *const bad_san[] = {"local host"};
	static const char *const wild_san[] = {"*.example.com"};
	struct {
		struct pki_issue_params p;
		int rc;
	} cases[] = {
	    {{.kind = PKI_KIND_DEVICE, .id = "dev/1", .store = "0042"}, RG_ERR_INVAL},
	    {{.kind = PKI_KIND_DEVICE, .id = "dev+1", .store = "0042"}, RG_ERR_INVAL},
	    {{.kind = PKI_KIND_DEVICE, .id = "dev-#", .store = "0042"}, RG_ERR_INVAL},
	    {{.kind = PKI_KIND_DEVICE, .id = "dev-1", .store = NULL}, RG_ERR_INVAL},
	    {{.kind = PKI_KIND_DEVICE, .id = "gw-0042", .store = "0042"}, RG_ERR_INVAL},
	    {{.kind = PKI_KIND_GATEWAY, .id = "gw-0043", .store = "0042"}, RG_ERR_INVAL},
	    {{.kind = PKI_KIND_CLOUD, .id = "cloud-1", .store = "0042"}, RG_ERR_INVAL},
	    {{.kind = PKI_KIND_BROKER, .id = "broker-1"}, RG_ERR_INVAL},
	    {{.kind = PKI_KIND_BROKER, .id = "broker-1", .sans = bad_san, .n_sans = 1},
	     RG_ERR_INVAL},
	    {{.kind = PKI_KIND_BROKER, .id = "broker-1", .sans = wild_san, .n_sans = 1},
	     RG_ERR_INVAL},
	    {{.kind = PKI_KIND_DEVICE,
	      .id = "dev-1",
	      .store = "0042",
	      .sans = good_san,
	      .n_sans = 1},
	     RG_ERR_INVAL},
	    {{.kind = PKI_KIND_DEVICE, .id = "dev-1", .store = "0042", .days = 3651}, RG_ERR_RANGE},
	};
	struct pki_ca_params ca = {.tenant = "Acme Corp"};

	assert_int_equal(pki_ca_create(f->dir, &ca, f->err, sizeof f->err), RG_ERR_INVAL);
	ca.tenant = "acme";
	ca.days = PKI_CA_DAYS_MAX + 1;
	assert_int_equal(pki_ca_create(f->dir, &ca, f->err, sizeof f->err), RG_ERR_RANGE);
	assert_int_equal(count_entries(f->dir), 0);
	make_ca(f, f->dir, "acme");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		f->err[0] = '\0';
		int rc = pki_cert_issue(f->dir, &cases[i].p, f->err, sizeof f->err);
		if (rc != cases[i].rc)
			fail_msg("case %zu (%s): got %d, want %d", i, cases[i].p.id, rc,
				 cases[i].rc);
		assert_true(f->err[0] != '\0');
	}
	assert_int_equal(count_entries(f->dir), 2); /* ca.key and ca.crt only */
	/* No CA in the directory: a clear error, nothing written. */
	char empty[600];
	snprintf(empty, sizeof empty, "%s/empty", f->dir);
	assert_int_equal(mkdir(empty, 0700), 0);
	struct pki_issue_params p = {.kind = PKI_KIND_DEVICE, .id = "dev-1", .store = "0042"};
	assert_int_equal(pki_cert_issue(empty, &p, f->err, sizeof f->err), RG_ERR_NOTFOUND);
	assert_non_null(strstr(f->err, "ca.crt"));
	assert_int_equal(count_entries(empty), 0);
}

static void read_file(const char *dir, const char *name, char *buf, size_t cap)
{
	char path[1024];
	FILE *fp;
	size_t n;
	path_of(path, sizeof path, dir, name);
	assert_non_null(fp = fopen(path, "rb"));
	n = fread(buf, 1, cap - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

static void keys_are_never_replaced_silently(void **state)
{
	struct fixture *f = *state;
	char before[8192], after[8192], ca_before[8192], ca_after[8192];
	struct pki_issue_params p = {.kind = PKI_KIND_DEVICE, .id = "dev-1", .store = "0042"};
	struct pki_ca_params ca = {.tenant = "acme"};

	make_ca(f, f->dir, "acme");
	read_file(f->dir, "ca.key", ca_before, sizeof ca_before);
	assert_int_equal(pki_ca_create(f->dir, &ca, f->err, sizeof f->err), RG_ERR_EXISTS);
	read_file(f->dir, "ca.key", ca_after, sizeof ca_after);
	assert_string_equal(ca_before, ca_after);

	issue(f, f->dir, PKI_KIND_DEVICE, "dev-1", "0042");
	read_file(f->dir, "dev-1.key", before, sizeof before);
	assert_int_equal(pki_cert_issue(f->dir, &p, f->err, sizeof f->err), RG_ERR_EXISTS);
	assert_non_null(strstr(f->err, "force"));
	read_file(f->dir, "dev-1.key", after, sizeof after);
	assert_string_equal(before, after);

	/* With force: a new key, same identity, still verifies. */
	p.force = true;
	assert_int_equal(pki_cert_issue(f->dir, &p, f->err, sizeof f->err), 0);
	read_file(f->dir, "dev-1.key", after, sizeof after);
	assert_string_not_equal(before, after);
	assert_int_equal(mode_of(f->dir, "dev-1.key"), 0600);
	assert_int_equal(pki_cert_verify(f->dir, "dev-1", NULL, f->err, sizeof f->err), 0);

	/* Not even force turns a device into a cloud worker or moves its store. */
	struct pki_issue_params other = {.kind = PKI_KIND_CLOUD, .id = "dev-1", .force = true};
	assert_int_equal(pki_cert_issue(f->dir, &other, f->err, sizeof f->err), RG_ERR_EXISTS);
	assert_non_null(strstr(f->err, "never changes kind"));
	other.kind = PKI_KIND_DEVICE;
	other.store = "0043";
	assert_int_equal(pki_cert_issue(f->dir, &other, f->err, sizeof f->err), RG_ERR_EXISTS);
	/* Only the four PEM files, no temporary leftovers. */
	assert_int_equal(count_entries(f->dir), 4);
}

static void validity_follows_the_clock_and_never_outlives_the_ca(void **state)
{
	struct fixture *f = *state;
	struct rg_clock_manual clk;
	struct pki_cert_info info;
	char path[1024];
	int64_t now = rg_clock_wall_ms(rg_clock_system());

	rg_clock_manual_init(&clk, now);
	struct pki_ca_params ca = {.tenant = "acme", .days = 10, .clock = &clk.clock};
	assert_int_equal(pki_ca_create(f->dir, &ca, f->err, sizeof f->err), 0);
	struct pki_issue_params p = {.kind = PKI_KIND_DEVICE,
				     .id = "dev-1",
				     .store = "0042",
				     .days = 30,
				     .clock = &clk.clock};
	assert_int_equal(pki_cert_issue(f->dir, &p, f->err, sizeof f->err), 0);
	path_of(path, sizeof path, f->dir, "dev-1.crt");
	assert_int_equal(pki_cert_info_read(path, &info, f->err, sizeof f->err), 0);
	assert_int_equal(info.not_after, now / 1000 + 10 * 86400); /* capped by the CA */
	assert_int_equal(info.not_before, now / 1000 - 3600);

	assert_int_equal(pki_cert_verify(f->dir, "dev-1", &clk.clock, f->err, sizeof f->err), 0);
	rg_clock_manual_advance(&clk, 11LL * 86400 * 1000);
	assert_int_equal(pki_cert_verify(f->dir, "dev-1", &clk.clock, f->err, sizeof f->err),
			 RG_ERR_VERIFY);
	assert_non_null(strstr(f->err, "expired"));
	rg_clock_manual_set_wall(&clk, now - 2 * 3600 * 1000);
	assert_int_equal(pki_cert_verify(f->dir, "dev-1", &clk.clock, f->err, sizeof f->err),
			 RG_ERR_VERIFY);
	assert_non_null(strstr(f->err, "not valid yet"));
	/* An expired CA issues nothing. */
	rg_clock_manual_set_wall(&clk, now + 11LL * 86400 * 1000);
	p.id = "dev-2";
	assert_int_equal(pki_cert_issue(f->dir, &p, f->err, sizeof f->err), RG_ERR_RANGE);
}

/* A random source that fails after `left` successful calls. */
static int failing_fill(void *priv, void *buf, size_t n)
{
	int *left = priv;
	if (*left <= 0)
		return RG_ERR_IO;
	(*left)--;
	return rg_random(buf, n);
}

static void failing_randomness_leaves_nothing_behind(void **state)
{
	struct fixture *f = *state;
	make_ca(f, f->dir, "acme");
	for (int budget = 0; budget < 64; budget++) {
		int left = budget;
		struct rg_rand r = {failing_fill, &left};
		struct pki_issue_params p = {
		    .kind = PKI_KIND_DEVICE, .id = "dev-1", .store = "0042", .rng = &r};
		int rc = pki_cert_issue(f->dir, &p, f->err, sizeof f->err);
		if (rc == 0) {
			/* Enough randomness at last: a complete, valid pair. */
			assert_int_equal(count_entries(f->dir), 4);
			assert_int_equal(
			    pki_cert_verify(f->dir, "dev-1", NULL, f->err, sizeof f->err), 0);
			return;
		}
		assert_true(rc == RG_ERR_CRYPTO || rc == RG_ERR_IO);
		assert_int_equal(count_entries(f->dir), 2);
	}
	fail_msg("issuance never succeeded within the randomness budget");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(chain_verifies_and_extensions_are_as_documented, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(leaf_of_another_ca_does_not_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_identities_and_parameters_are_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(keys_are_never_replaced_silently, setup, teardown),
	    cmocka_unit_test_setup_teardown(validity_follows_the_clock_and_never_outlives_the_ca,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(failing_randomness_leaves_nothing_behind, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
