/*
 * test_broker_conf.c - the generated Mosquitto configurations, read as text:
 * mutual TLS with CN as username and client id, no anonymous access, the
 * store broker's identity-confined patterns, the central broker's explicit
 * list of trusted gateways and cloud workers, and the refusals (missing or
 * wrong broker certificate, bad port or path, a different key in the way).
 * The real broker runs these files in tests/mqtt.
 */
#include "tmpdir.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/pki.h"

struct fixture {
	char dir[512];
	char pki[600];
	char out[600];
	char err[PKI_ERR_MAX];
	char text[65536];
};

static void issue(struct fixture *f, const char *dir, enum pki_kind kind, const char *id,
		  const char *store)
{
	static const char *const sans[] = {"localhost", "127.0.0.1"};
	struct pki_issue_params p = {.kind = kind, .id = id, .store = store};
	if (kind == PKI_KIND_BROKER) {
		p.sans = sans;
		p.n_sans = 2;
	}
	if (pki_cert_issue(dir, &p, f->err, sizeof f->err))
		fail_msg("issue %s: %s", id, f->err);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct pki_ca_params ca = {.tenant = "acme"};
	if (!f || tmpdir_make(f->dir, sizeof f->dir, "brokerconf") < 0)
		return -1;
	snprintf(f->pki, sizeof f->pki, "%s/pki", f->dir);
	snprintf(f->out, sizeof f->out, "%s/out", f->dir);
	if (pki_ca_create(f->pki, &ca, f->err, sizeof f->err))
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

static const char *slurp(struct fixture *f, const char *name)
{
	char path[1024];
	FILE *fp;
	size_t n;
	snprintf(path, sizeof path, "%s/%s", f->out, name);
	assert_non_null(fp = fopen(path, "rb"));
	n = fread(f->text, 1, sizeof f->text - 1, fp);
	f->text[n] = '\0';
	fclose(fp);
	return f->text;
}

/* Line-exact search, so "user gw-0042" does not match "user gw-00421". */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

static void store_broker_is_mtls_with_identity_confined_patterns(void **state)
{
	struct fixture *f = *state;
	/* Ports here are only text in a file: nothing binds them. */
	struct pki_broker_params p = {
	    .role = PKI_BROKER_STORE, .store = "0042", .port = 18883, .bind = "127.0.0.1"};
	char line[1200];
	struct stat st;

	issue(f, f->pki, PKI_KIND_BROKER, "broker-0042", "0042");
	assert_int_equal(pki_broker_config_write(f->pki, f->out, &p, f->err, sizeof f->err), 0);
	const char *conf = slurp(f, "mosquitto.conf");
	static const char *const must[] = {
	    "allow_anonymous false",
	    "require_certificate true",
	    "use_identity_as_username true",
	    "use_username_as_clientid true",
	    "tls_version tlsv1.2",
	    "listener 18883 127.0.0.1",
	    "persistence true",
	    "log_dest stderr",
	    "per_listener_settings false",
	};
	for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
		if (!has_line(conf, must[i]))
			fail_msg("mosquitto.conf lacks \"%s\"", must[i]);
	assert_false(has_line(conf, "user root"));
	char real[1024];
	assert_non_null(realpath(f->out, real));
	snprintf(line, sizeof line, "cafile %s/certs/ca.crt", real);
	assert_true(has_line(conf, line));
	snprintf(line, sizeof line, "persistence_location %s/data/", real);
	assert_true(has_line(conf, line));

	const char *acl = slurp(f, "acl");
	assert_true(has_line(acl, "pattern write rg/v1/s/0042/d/%u/up/#"));
	assert_true(has_line(acl, "pattern read rg/v1/s/0042/d/%u/down/#"));
	assert_true(has_line(acl, "user gw-0042"));
	assert_true(has_line(acl, "topic read rg/v1/s/0042/d/+/up/#"));
	assert_true(has_line(acl, "topic write rg/v1/s/0042/d/+/down/#"));
	/* Every right under this store's prefix; no topic line before the gateway's user. */
	for (const char *p2 = acl; (p2 = strstr(p2, "rg/v1/")); p2++)
		assert_int_equal(strncmp(p2, "rg/v1/s/0042/", 13), 0);
	assert_true(strstr(acl, "\ntopic ") > strstr(acl, "\nuser gw-0042"));

	snprintf(line, sizeof line, "%s/certs/broker.key", f->out);
	assert_int_equal(stat(line, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(line, sizeof line, "%s/data", f->out);
	assert_int_equal(stat(line, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	/* Regenerating is routine; asking for root adds `user root`. */
	p.run_as_root = true;
	assert_int_equal(pki_broker_config_write(f->pki, f->out, &p, f->err, sizeof f->err), 0);
	assert_true(has_line(slurp(f, "mosquitto.conf"), "user root"));
}

static void central_broker_lists_only_trusted_gateways_and_cloud_workers(void **state)
{
	struct fixture *f = *state;
	struct pki_broker_params p = {.role = PKI_BROKER_CENTRAL, .port = 18884};
	struct pki_ca_params ca = {.tenant = "acme"};
	char other[700], src[1024], dst[1024];

	issue(f, f->pki, PKI_KIND_BROKER, "broker-central", NULL);
	issue(f, f->pki, PKI_KIND_GATEWAY, "gw-0042", "0042");
	issue(f, f->pki, PKI_KIND_GATEWAY, "gw-0043", "0043");
	issue(f, f->pki, PKI_KIND_CLOUD, "cloud-1", NULL);
	issue(f, f->pki, PKI_KIND_IT, "it-alice", NULL);
	issue(f, f->pki, PKI_KIND_DEVICE, "dev-0042-k1", "0042");
	/* A gateway certificate from another CA, dropped into the directory. */
	snprintf(other, sizeof other, "%s/other", f->dir);
	assert_int_equal(pki_ca_create(other, &ca, f->err, sizeof f->err), 0);
	issue(f, other, PKI_KIND_GATEWAY, "gw-0099", "0099");
	snprintf(src, sizeof src, "%s/gw-0099.crt", other);
	snprintf(dst, sizeof dst, "%s/gw-0099.crt", f->pki);
	assert_int_equal(link(src, dst), 0);

	assert_int_equal(pki_broker_config_write(f->pki, f->out, &p, f->err, sizeof f->err), 0);
	assert_true(has_line(slurp(f, "mosquitto.conf"), "listener 18884"));
	const char *acl = slurp(f, "acl");
	assert_true(has_line(acl, "user gw-0042"));
	assert_true(has_line(acl, "topic write rg/v1/g/gw-0042/up/#"));
	assert_true(has_line(acl, "topic read rg/v1/config/store/0042"));
	assert_true(has_line(acl, "topic read rg/v1/config/device/0043/#"));
	assert_true(has_line(acl, "user gw-0043"));
	assert_true(has_line(acl, "user cloud-1"));
	assert_true(has_line(acl, "topic read rg/v1/g/+/up/#"));
	assert_true(has_line(acl, "topic write rg/v1/g/+/down/#"));
	/* Cloud workers announce changes, every gateway reads them. */
	const char *cw = strstr(acl, "\nuser cloud-1\n");
	assert_non_null(cw);
	assert_non_null(strstr(cw, "\ntopic write rg/v1/central/changes\n"));
	assert_int_equal(strstr(acl, "\ntopic write rg/v1/central/changes\n"),
			 strstr(cw, "\ntopic write rg/v1/central/changes\n"));
	assert_non_null(
	    strstr(strstr(acl, "\nuser gw-0043\n"), "\ntopic read rg/v1/central/changes\n"));
	/* Gateways read the key-set rotations; IT writes configuration and reads reports. */
	assert_true(has_line(acl, "topic read rg/v1/config/keys/#"));
	assert_true(has_line(acl, "user it-alice"));
	const char *it = strstr(acl, "\nuser it-alice\n");
	assert_non_null(it);
	assert_non_null(strstr(it, "\ntopic write rg/v1/config/#\n"));
	assert_non_null(strstr(it, "\ntopic read rg/v1/g/+/d/+/status\n"));
	assert_int_equal(strstr(acl, "\ntopic write rg/v1/config/#\n"),
			 strstr(it, "\ntopic write rg/v1/config/#\n"));
	assert_null(strstr(acl, "dev-0042-k1"));
	assert_null(strstr(acl, "gw-0099"));
	assert_null(strstr(acl, "broker-central"));
	assert_null(strstr(acl, "\npattern "));
}

static void refusals_are_clear(void **state)
{
	struct fixture *f = *state;
	struct pki_broker_params p = {.role = PKI_BROKER_STORE, .store = "0042", .port = 18885};
	char spaced[700], keypath[1024];

	assert_int_equal(pki_broker_config_write(f->pki, f->out, &p, f->err, sizeof f->err),
			 RG_ERR_NOTFOUND);
	assert_non_null(strstr(f->err, "pki issue --kind broker"));
	issue(f, f->pki, PKI_KIND_DEVICE, "dev-1", "0042");
	p.broker_id = "dev-1";
	assert_int_equal(pki_broker_config_write(f->pki, f->out, &p, f->err, sizeof f->err),
			 RG_ERR_INVAL);
	assert_non_null(strstr(f->err, "not a broker"));
	issue(f, f->pki, PKI_KIND_BROKER, "broker-0043", "0043");
	p.broker_id = "broker-0043";
	assert_int_equal(pki_broker_config_write(f->pki, f->out, &p, f->err, sizeof f->err),
			 RG_ERR_INVAL);
	assert_non_null(strstr(f->err, "store 0043"));
	p.broker_id = NULL;
	issue(f, f->pki, PKI_KIND_BROKER, "broker-0042", "0042");
	p.port = 0;
	assert_int_equal(pki_broker_config_write(f->pki, f->out, &p, f->err, sizeof f->err),
			 RG_ERR_RANGE);
	p.port = 70000;
	assert_int_equal(pki_broker_config_write(f->pki, f->out, &p, f->err, sizeof f->err),
			 RG_ERR_RANGE);
	p.port = 18885;
	p.store = "00/42";
	assert_int_equal(pki_broker_config_write(f->pki, f->out, &p, f->err, sizeof f->err),
			 RG_ERR_INVAL);
	p.store = "0042";
	snprintf(spaced, sizeof spaced, "%s/with space", f->dir);
	assert_int_equal(pki_broker_config_write(f->pki, spaced, &p, f->err, sizeof f->err),
			 RG_ERR_INVAL);

	/* Same key: regenerate freely. Another key in the way: only with force. */
	assert_int_equal(pki_broker_config_write(f->pki, f->out, &p, f->err, sizeof f->err), 0);
	assert_int_equal(pki_broker_config_write(f->pki, f->out, &p, f->err, sizeof f->err), 0);
	struct pki_issue_params again = {.kind = PKI_KIND_BROKER,
					 .id = "broker-0042",
					 .store = "0042",
					 .force = true,
					 .sans = (const char *const[]){"localhost"},
					 .n_sans = 1};
	assert_int_equal(pki_cert_issue(f->pki, &again, f->err, sizeof f->err), 0);
	assert_int_equal(pki_broker_config_write(f->pki, f->out, &p, f->err, sizeof f->err),
			 RG_ERR_EXISTS);
	assert_non_null(strstr(f->err, "force"));
	p.force = true;
	assert_int_equal(pki_broker_config_write(f->pki, f->out, &p, f->err, sizeof f->err), 0);
	snprintf(keypath, sizeof keypath, "%s/certs/broker.key", f->out);
	struct stat st;
	assert_int_equal(stat(keypath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(store_broker_is_mtls_with_identity_confined_patterns,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		central_broker_lists_only_trusted_gateways_and_cloud_workers, setup, teardown),
	    cmocka_unit_test_setup_teardown(refusals_are_clear, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
