/*
 * test_ident.c - the identity rules of rg_pki: the grammar that keeps MQTT
 * wildcards and separators out of usernames and topic levels, kind names, and
 * the (kind, id, store) rule that reserves "gw-<store>" for gateways.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/pki.h"

static void identity_grammar_refuses_mqtt_specials_and_overlong(void **state)
{
	char longest[PKI_ID_MAX + 2];
	(void)state;
	assert_true(pki_identity_valid("dev-0042-k1"));
	assert_true(pki_identity_valid("cloud-1"));
	assert_true(pki_identity_valid("0"));
	static const char *const bad[] = {"",	   "-dev",  "dev/1", "dev+1", "dev#",
					  "Dev-1", "dev 1", "dev.1", "dev_1", "$sys",
					  "dev\n", "dév",   "%u",    "dev:1", "a,b"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(pki_identity_valid(bad[i]));
	assert_false(pki_identity_valid(NULL));
	memset(longest, 'a', PKI_ID_MAX);
	longest[PKI_ID_MAX] = '\0';
	assert_true(pki_identity_valid(longest));
	longest[PKI_ID_MAX] = 'a';
	longest[PKI_ID_MAX + 1] = '\0';
	assert_false(pki_identity_valid(longest));
}

static void store_and_tenant_grammar(void **state)
{
	(void)state;
	assert_true(pki_store_valid("0042"));
	assert_true(pki_store_valid("berlin-mitte"));
	assert_false(pki_store_valid("0042/x"));
	assert_false(pki_store_valid("+"));
	assert_false(pki_store_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 33 */
	assert_true(pki_tenant_valid("acme"));
	assert_false(pki_tenant_valid("Acme Corp"));
	assert_false(pki_tenant_valid(""));
}

static void kind_names_round_trip(void **state)
{
	(void)state;
	for (int k = 0; k < PKI_KIND__COUNT; k++)
		assert_int_equal(pki_kind_parse(pki_kind_name((enum pki_kind)k)), k);
	assert_string_equal(pki_kind_name(PKI_KIND_CLOUD), "cloud");
	assert_int_equal(pki_kind_parse("admin"), RG_ERR_PARSE);
	assert_int_equal(pki_kind_parse(NULL), RG_ERR_PARSE);
	assert_string_equal(pki_kind_name((enum pki_kind)17), "invalid");
}

static void gateway_is_exactly_gw_store_and_prefix_is_reserved(void **state)
{
	char err[PKI_ERR_MAX];
	(void)state;
	assert_int_equal(pki_identity_check(PKI_KIND_GATEWAY, "gw-0042", "0042", err, sizeof err),
			 0);
	assert_int_equal(pki_identity_check(PKI_KIND_GATEWAY, "gw-0043", "0042", err, sizeof err),
			 RG_ERR_INVAL);
	assert_non_null(strstr(err, "gw-0042"));
	assert_int_equal(
	    pki_identity_check(PKI_KIND_GATEWAY, "gateway-0042", "0042", err, sizeof err),
	    RG_ERR_INVAL);
	/* No other kind may look like a gateway: brokers grant rights by that name. */
	assert_int_equal(pki_identity_check(PKI_KIND_DEVICE, "gw-0042", "0042", err, sizeof err),
			 RG_ERR_INVAL);
	assert_non_null(strstr(err, "reserved"));
	assert_int_equal(pki_identity_check(PKI_KIND_CLOUD, "gw-x", NULL, err, sizeof err),
			 RG_ERR_INVAL);
	assert_int_equal(pki_identity_check(PKI_KIND_BROKER, "gw-b", NULL, NULL, 0), RG_ERR_INVAL);
}

static void it_identity_is_it_name_without_store_and_prefix_is_reserved(void **state)
{
	char err[PKI_ERR_MAX];
	(void)state;
	assert_string_equal(pki_kind_name(PKI_KIND_IT), "it");
	assert_int_equal(pki_kind_parse("it"), PKI_KIND_IT);
	assert_int_equal(pki_identity_check(PKI_KIND_IT, "it-alice", NULL, err, sizeof err), 0);
	assert_int_equal(pki_identity_check(PKI_KIND_IT, "it-alice", "0042", err, sizeof err),
			 RG_ERR_INVAL);
	assert_non_null(strstr(err, "no store"));
	assert_int_equal(pki_identity_check(PKI_KIND_IT, "alice", NULL, err, sizeof err),
			 RG_ERR_INVAL);
	assert_non_null(strstr(err, "it-<name>"));
	assert_int_equal(pki_identity_check(PKI_KIND_IT, "it-", NULL, err, sizeof err),
			 RG_ERR_INVAL);
	assert_int_equal(pki_identity_check(PKI_KIND_IT, "gw-0042", NULL, err, sizeof err),
			 RG_ERR_INVAL);
	/* Only IT identities look like IT: the central ACL grants config rights to them. */
	assert_int_equal(pki_identity_check(PKI_KIND_DEVICE, "it-x", "0042", err, sizeof err),
			 RG_ERR_INVAL);
	assert_non_null(strstr(err, "reserved"));
	assert_int_equal(pki_identity_check(PKI_KIND_CLOUD, "it-x", NULL, NULL, 0), RG_ERR_INVAL);
	assert_int_equal(pki_identity_check(PKI_KIND_CLOUD, "item-1", NULL, NULL, 0), 0);
}

static void store_required_where_it_belongs(void **state)
{
	char err[PKI_ERR_MAX];
	(void)state;
	assert_int_equal(pki_identity_check(PKI_KIND_DEVICE, "dev-1", NULL, err, sizeof err),
			 RG_ERR_INVAL);
	assert_non_null(strstr(err, "store"));
	assert_int_equal(pki_identity_check(PKI_KIND_DEVICE, "dev-1", "0042", err, sizeof err), 0);
	assert_int_equal(pki_identity_check(PKI_KIND_CLOUD, "cloud-1", "0042", err, sizeof err),
			 RG_ERR_INVAL);
	assert_int_equal(pki_identity_check(PKI_KIND_CLOUD, "cloud-1", NULL, err, sizeof err), 0);
	assert_int_equal(
	    pki_identity_check(PKI_KIND_BROKER, "broker-0042", "0042", err, sizeof err), 0);
	assert_int_equal(
	    pki_identity_check(PKI_KIND_BROKER, "broker-central", NULL, err, sizeof err), 0);
	assert_int_equal(pki_identity_check(PKI_KIND_DEVICE, "dev-1", "00/42", err, sizeof err),
			 RG_ERR_INVAL);
	assert_int_equal(pki_identity_check(PKI_KIND_DEVICE, "dev+1", "0042", err, sizeof err),
			 RG_ERR_INVAL);
	assert_int_equal(pki_identity_check((enum pki_kind)9, "x", NULL, err, sizeof err),
			 RG_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(identity_grammar_refuses_mqtt_specials_and_overlong),
	    cmocka_unit_test(store_and_tenant_grammar),
	    cmocka_unit_test(kind_names_round_trip),
	    cmocka_unit_test(gateway_is_exactly_gw_store_and_prefix_is_reserved),
	    cmocka_unit_test(it_identity_is_it_name_without_store_and_prefix_is_reserved),
	    cmocka_unit_test(store_required_where_it_belongs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
