package store

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute and index names of the table.
const (
	attrPK     = "pk"
	attrSK     = "sk"
	attrGSI1PK = "gsi1pk"
	attrGSI1SK = "gsi1sk"
	attrTTL    = "ttl"

	// indexByMerchant finds a merchant's cards by key version (rotation,
	// per-version record counts). Keys only: readers fetch what they need.
	indexByMerchant = "by_merchant"

	// indexByCustomer and indexByFingerprint list a merchant's saved
	// cards of one customer, or of one fingerprint, newest first
	// (list_cards). They share the sort key attrListSK.
	indexByCustomer       = "by_customer"
	indexByFingerprint    = "by_fingerprint"
	attrCustomerListPK    = "customer_pk"
	attrFingerprintListPK = "fingerprint_pk"
	attrListSK            = "list_sk"
)

// Item key prefixes and sort keys. Each kind of item has its own partition
// key prefix, so no two kinds can collide.
const (
	cardPrefix     = "CARD#"
	cardSK         = "CARD"
	cardIndexPfx   = "CIDX#"
	cardIndexSK    = "CIDX"
	replayPrefix   = "JTI#"
	replaySK       = "JTI"
	secretPrefix   = "SECRET#"
	merchantKeyPfx = "MKEY#"
	versionPrefix  = "V#"
	merchantGSIPfx = "MERCHANT#"
	// Listing index partition keys: index keys only, never a table pk.
	customerListPfx    = "CUST#"
	fingerprintListPfx = "FPRINT#"

	// shreddedSK is the tombstone of a shredded merchant, in its key
	// partition. '~' sorts after every digit, so LatestKey's descending
	// "V#" query meets it before any version and answers ErrShredded
	// without a second read; version ranges (V#0000000000..V#4294967295)
	// never include it.
	shreddedSK = versionPrefix + "~SHREDDED"
	// rotationSK is a merchant's re-encryption progress, in its key
	// partition; it does not begin with "V#", so no key read sees it.
	rotationSK = "ROTATION"
	// merchantDirPK is the partition of the merchant directory: one item
	// per merchant that ever had a key, sorted by escaped merchant id.
	merchantDirPK = "MERCHANTS"
)

// merchantShards spreads one merchant's cards over this many index
// partition keys, so the largest merchant's index writes and rotation
// queries are not pinned to one partition.
const merchantShards = 16

// keyEscaper makes '#' an unambiguous separator in composite keys.
// Merchant, customer and client ids are caller-chosen and may contain '#';
// without escaping, merchant "a#fp_x" with customer "c" and merchant "a"
// with customer "fp_x#c" would share a duplicate-detection entry. '%' is
// escaped first-class so the mapping stays injective.
var keyEscaper = strings.NewReplacer("%", "%25", "#", "%23")

func keyPart(s string) string { return keyEscaper.Replace(s) }

// keyUnescaper inverts keyEscaper: in an escaped part every '%' starts one
// of the two escapes, so a left-to-right replacement restores the id.
var keyUnescaper = strings.NewReplacer("%23", "#", "%25", "%")

func unescapeKeyPart(s string) string { return keyUnescaper.Replace(s) }

func cardPK(token string) string { return cardPrefix + keyPart(token) }

func cardIndexPK(merchantID, fingerprint, customerID string) string {
	return cardIndexPfx + keyPart(merchantID) + "#" + keyPart(fingerprint) + "#" + keyPart(customerID)
}

func replayPK(issuer, jti string) string {
	return replayPrefix + keyPart(issuer) + "#" + keyPart(jti)
}

func secretPK(merchantID, name string) string {
	return secretPrefix + keyPart(merchantID) + "#" + keyPart(name)
}

func merchantKeyPK(merchantID string) string { return merchantKeyPfx + keyPart(merchantID) }

// versionKey zero-pads a key version to 10 digits (uint32's maximum width),
// so string order is numeric order: LatestKey reads the last sort key.
func versionKey(version uint32) string { return fmt.Sprintf("%s%010d", versionPrefix, version) }

// parseVersionKey reads a sort key written by versionKey.
func parseVersionKey(sk string) (uint32, bool) {
	digits, ok := strings.CutPrefix(sk, versionPrefix)
	if !ok || len(digits) != 10 {
		return 0, false
	}
	v, err := strconv.ParseUint(digits, 10, 32)
	return uint32(v), err == nil
}

// merchantIndexPK is the by_merchant partition key of a card: the merchant
// plus a shard picked by the token. Readers of the index query all
// merchantShards shards.
func merchantIndexPK(merchantID string, shard int) string {
	return fmt.Sprintf("%s%s#%02d", merchantGSIPfx, keyPart(merchantID), shard)
}

// merchantIndexVersionPrefix is the by_merchant sort key prefix of the
// cards sealed under one key version.
func merchantIndexVersionPrefix(version uint32) string { return versionKey(version) + "#" }

// shardOf picks an item's by_merchant shard from its id (a card's token,
// a secret's name). Tokens are random, so any stable hash spreads them
// evenly; FNV is enough (nothing secret is hashed and nothing depends on
// unpredictability).
func shardOf(id string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32() % merchantShards)
}

func cardGSI1SK(keyVersion uint32, token string) string {
	return merchantIndexVersionPrefix(keyVersion) + keyPart(token)
}

// secretGSI1SK sorts a secret version among the cards of its key version.
// An escaped token holds no '#', so it can never read "SECRET#..."; the
// index's projected pk tells the two kinds apart as well.
func secretGSI1SK(keyVersion uint32, name string, version uint32) string {
	return merchantIndexVersionPrefix(keyVersion) + secretPrefix + keyPart(name) + "#" + versionKey(version)
}

// ttlSeconds is the ttl attribute for an expiry: epoch seconds, rounded up
// so that neither AWS's sweep nor the vault's own check ends an item before
// its expiry. Zero means no expiry (no attribute).
func ttlSeconds(expiresAt time.Time) int64 {
	if expiresAt.IsZero() {
		return 0
	}
	s := expiresAt.Unix()
	if expiresAt.Nanosecond() > 0 {
		s++
	}
	return max(s, 1)
}

// expired applies the one expiry rule every item kind shares, the same one
// the conditional writes use (#ttl <= :now).
func expired(ttl int64, now time.Time) bool { return ttl != 0 && ttl <= now.Unix() }

// epochValue is t in whole epoch seconds as a number attribute value: the
// comparand of the #ttl conditions, and the ttl of a tombstone.
func epochValue(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}

// formatTime and parseTime keep timestamps as RFC 3339 strings with
// nanoseconds, in UTC: readable in the console, sortable, and exact.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
