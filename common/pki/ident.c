/*
 * ident.c - the identity rules of the PKI: kind names, the grammar of
 * identities, store ids and tenants, and the (kind, id, store) rule that keeps
 * the "gw-" prefix for gateways and "it-" for IT identities. Brokers trust
 * these rules when they turn a certificate's CN into an MQTT username and a
 * topic level.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/pki.h"
#include "common/wire.h"
#include "pki_internal.h"

_Static_assert(PKI_ID_MAX == RG_WIRE_ID_MAX, "identities and wire device ids are one thing");
_Static_assert(PKI_STORE_MAX == RG_WIRE_STORE_MAX, "store ids are one thing");

static const char *const kind_names[PKI_KIND__COUNT] = {"device", "gateway", "cloud",
								"broker", "it"};

const char *pki_kind_name(enum pki_kind kind)
{
	return (unsigned)kind < PKI_KIND__COUNT ? kind_names[kind] : "invalid";
}

int pki_kind_parse(const char *name)
{
	for (int i = 0; name && i < PKI_KIND__COUNT; i++)
		if (!strcmp(name, kind_names[i]))
			return i;
	return RG_ERR_PARSE;
}

/* [a-z0-9-]{1,max}, not starting with '-'. */
static int word_valid(const char *s, size_t max)
{
	size_t n;
	if (!s || !*s || *s == '-')
		return 0;
	for (n = 0; s[n]; n++) {
		char c = s[n];
		if (n >= max)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

int pki_identity_valid(const char *id)
{
	/* Same grammar as the wire format's device field: one rule, one place. */
	return word_valid(id, PKI_ID_MAX) && rg_wire_identity_valid(id);
}

int pki_store_valid(const char *store)
{
	return word_valid(store, PKI_STORE_MAX);
}

int pki_tenant_valid(const char *tenant)
{
	return word_valid(tenant, PKI_TENANT_MAX);
}

int pki__fail(int code, char *err, size_t errcap, const char *fmt, ...)
{
	if (err && errcap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return code;
}

int pki_identity_check(enum pki_kind kind, const char *id, const char *store, char *err,
		       size_t errcap)
{
	const size_t plen = strlen(PKI_GATEWAY_PREFIX), itlen = strlen(PKI_IT_PREFIX);

	if ((unsigned)kind >= PKI_KIND__COUNT)
		return pki__fail(RG_ERR_INVAL, err, errcap, "unknown kind %d", (int)kind);
	if (!pki_identity_valid(id))
		return pki__fail(RG_ERR_INVAL, err, errcap,
				 "identity \"%.80s\" is not 1-%d of [a-z0-9-] starting with a "
				 "letter or digit",
				 id ? id : "", PKI_ID_MAX);
	if (store && !pki_store_valid(store))
		return pki__fail(RG_ERR_INVAL, err, errcap,
				 "store \"%.80s\" is not 1-%d of [a-z0-9-] starting with a letter "
				 "or digit",
				 store, PKI_STORE_MAX);
	switch (kind) {
	case PKI_KIND_DEVICE:
	case PKI_KIND_GATEWAY:
		if (!store)
			return pki__fail(RG_ERR_INVAL, err, errcap, "a %s needs a store",
					 pki_kind_name(kind));
		break;
	case PKI_KIND_CLOUD:
		if (store)
			return pki__fail(RG_ERR_INVAL, err, errcap,
					 "a cloud worker belongs to no store");
		break;
	case PKI_KIND_IT:
		if (store)
			return pki__fail(RG_ERR_INVAL, err, errcap,
					 "an IT identity belongs to no store");
		if (strncmp(id, PKI_IT_PREFIX, itlen) || !id[itlen])
			return pki__fail(RG_ERR_INVAL, err, errcap,
					 "an IT identity is named %s<name>, e.g. %salice, not %s",
					 PKI_IT_PREFIX, PKI_IT_PREFIX, id);
		break;
	default:
		break;
	}
	if (kind == PKI_KIND_GATEWAY) {
		if (strncmp(id, PKI_GATEWAY_PREFIX, plen) || strcmp(id + plen, store))
			return pki__fail(RG_ERR_INVAL, err, errcap,
					 "the gateway of store %s must be named %s%s, not %s",
					 store, PKI_GATEWAY_PREFIX, store, id);
	} else if (!strncmp(id, PKI_GATEWAY_PREFIX, plen)) {
		return pki__fail(RG_ERR_INVAL, err, errcap,
				 "identity %s: the prefix \"%s\" is reserved for gateways", id,
				 PKI_GATEWAY_PREFIX);
	}
	if (kind != PKI_KIND_IT && !strncmp(id, PKI_IT_PREFIX, itlen))
		return pki__fail(RG_ERR_INVAL, err, errcap,
				 "identity %s: the prefix \"%s\" is reserved for IT identities", id,
				 PKI_IT_PREFIX);
	return 0;
}
