package vault

import (
	"context"
	"errors"
	"time"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/envelope"
)

// Store errors. Adapters return exactly these (wrapped or not) so the
// operations can tell a lost race from a failure.
var (
	// ErrNotFound: no such item.
	ErrNotFound = errors.New("vault: not found")
	// ErrConflict: a conditional write lost to a concurrent writer.
	ErrConflict = errors.New("vault: conditional write conflict")
	// ErrReplayed: the (issuer, jti) pair was seen inside the window.
	ErrReplayed = errors.New("vault: request id already used")
)

// CardRecord is a vaulted card as stored: the masked view in the clear
// beside the sealed card, so the masked view needs no key.
type CardRecord struct {
	Token       string
	MerchantID  string
	CustomerID  string
	Fingerprint string
	Masked      card.Masked
	// Sealed is the envelope ciphertext of the card (number, expiry,
	// holder), bound to this record by its AAD.
	Sealed     []byte
	KeyVersion uint32
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// ExpiresAt is the end of the card's ttl_seconds; zero means never.
	ExpiresAt time.Time
	// Deleted marks a card whose deletion has begun: its ciphertext is
	// already gone and it answers not_found.
	Deleted bool
}

// CardIndexKey names the duplicate-detection entry of a card: one per
// merchant, customer and fingerprint.
type CardIndexKey struct {
	MerchantID  string
	CustomerID  string
	Fingerprint string
}

// CardStore keeps card records and their duplicate-detection index.
// Race-freedom comes from conditional writes only (no transactions).
type CardStore interface {
	// ClaimCardIndex points key at token unless an entry already exists;
	// then it returns the existing entry's token and ErrConflict. An entry
	// carries the card's expiry so that it does not outlive the card.
	ClaimCardIndex(ctx context.Context, key CardIndexKey, token string, expiresAt time.Time) (existingToken string, err error)
	// CardIndex returns the token key's live entry points at, or
	// ErrNotFound when there is none or it has expired. It only reads, so
	// vault_card may look before the request is admitted: a duplicate then
	// needs no claim.
	CardIndex(ctx context.Context, key CardIndexKey) (token string, err error)
	// CreateCard stores rec unless its token exists (ErrConflict).
	CreateCard(ctx context.Context, rec CardRecord) error
	// ReplaceCard overwrites an existing record of the same merchant
	// (ErrNotFound when there is none), keeping CreatedAt.
	ReplaceCard(ctx context.Context, rec CardRecord) error
	// Card returns the record for token or ErrNotFound.
	Card(ctx context.Context, token string) (CardRecord, error)
	// DeleteCard removes a card and its index entry, in an order that a
	// crash cannot turn into a live card: first the record is marked
	// deleted and its ciphertext dropped (conditional on the merchant),
	// then the index entry is removed if it still points at this token,
	// then the record. ErrNotFound if there is no such card of the
	// merchant.
	DeleteCard(ctx context.Context, rec CardRecord) error
	// DeleteCreatedCard takes back a card this request created: the record
	// if it still holds rec.Sealed, then the index entry if it still points
	// at rec.Token (in that order: an entry left without its card is
	// repaired by the next vault_card of that card). Nothing else's write is
	// undone.
	DeleteCreatedCard(ctx context.Context, rec CardRecord) error
	// TakeOverCardIndex repoints an index entry from oldToken (a deleted
	// or expired card) to newToken; ErrConflict if it no longer points at
	// oldToken.
	TakeOverCardIndex(ctx context.Context, key CardIndexKey, oldToken, newToken string, expiresAt time.Time) error
}

// CardIndexEntry is a duplicate-detection entry to write: key points at
// Token until ExpiresAt (zero: never).
type CardIndexEntry struct {
	Key       CardIndexKey
	Token     string
	ExpiresAt time.Time
}

// CardBatchStore is what an import's fast path needs of the store: many
// items per round trip, and writes without conditions (DynamoDB's batch
// calls take none). The import decides what may be written so (new cards
// under opaque tokens, found in no entry just before); everything else
// goes through CardStore's conditional writes.
type CardBatchStore interface {
	// CardIndexes returns, for each key, the token its live entry points
	// at, or "" when there is none or it has expired: strongly consistent
	// reads, as CardIndex makes.
	CardIndexes(ctx context.Context, keys []CardIndexKey) ([]string, error)
	// PutCards writes recs as they are, each overwriting any record of
	// its token.
	PutCards(ctx context.Context, recs []CardRecord) error
	// PutCardIndexes writes entries as they are, each overwriting any
	// entry of its key.
	PutCardIndexes(ctx context.Context, entries []CardIndexEntry) error
}

// ErrBatchRefused: the store refused a batch write as a request (a
// malformed item, say) without telling which item; the caller writes the
// items one at a time instead, where each answers for itself.
var ErrBatchRefused = errors.New("vault: batch write refused")

// SecretRecord is one version of a merchant secret as stored.
type SecretRecord struct {
	MerchantID string
	Name       string
	Version    uint32
	// Sealed is the envelope ciphertext of the value, bound to merchant,
	// name and version.
	Sealed     []byte
	KeyVersion uint32
	// Masked shows at most the value's last four characters.
	Masked   string
	Metadata map[string]string
	// CreatedAt is when the secret was first put; UpdatedAt when this
	// version was.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SecretHead is what a put needs to know of a secret: its newest live
// version, and the highest version number taken.
type SecretHead struct {
	// Latest is the newest live version; Live is false when there is none
	// (no version yet, or every one pruned or deleted).
	Latest SecretRecord
	Live   bool
	// Top is the highest version number taken, a tombstone's included (0
	// when none): the next version is Top+1.
	Top uint32
}

// SecretStore keeps versioned merchant secrets. A version is created with
// a conditional write, so two concurrent puts cannot both claim it. A
// version that goes (pruned, taken back or deleted) leaves a tombstone:
// its number, with neither value nor mask nor metadata, kept for
// SecretTombstoneLifetime, so that a put holding an older read cannot
// create that number again. Every read treats a tombstone as absent.
type SecretStore interface {
	// LatestSecret returns the newest live version, or ErrNotFound.
	LatestSecret(ctx context.Context, merchantID, name string) (SecretRecord, error)
	// SecretHead returns the newest live version and the highest number
	// taken.
	SecretHead(ctx context.Context, merchantID, name string) (SecretHead, error)
	// CreateSecretVersion stores a new version unless its number is taken,
	// by a version or a tombstone (ErrConflict).
	CreateSecretVersion(ctx context.Context, rec SecretRecord) error
	// DeleteSecretVersion turns the version rec names into a tombstone if
	// it still holds rec.Sealed (nothing if it does not): it takes back a
	// put whose audit event could not be recorded.
	DeleteSecretVersion(ctx context.Context, rec SecretRecord) error
	// PruneSecretVersions turns the versions older than keepFrom into
	// tombstones: keepFrom-1, and leftovers of earlier prunes that failed
	// among the few versions below it.
	PruneSecretVersions(ctx context.Context, merchantID, name string, keepFrom uint32) error
	// DeleteSecret turns every live version into a tombstone; ErrNotFound
	// if there was none.
	DeleteSecret(ctx context.Context, merchantID, name string) error
}

// Purger removes items whose time has passed. DynamoDB's TTL does this in
// AWS; dynalite never does, so local mode runs it.
type Purger interface {
	// PurgeExpired deletes up to limit expired items and returns how many
	// it deleted.
	PurgeExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

// ReplayGuard remembers (issuer, jti) pairs for the replay window, across
// every container of the vault.
type ReplayGuard interface {
	// Consume records the pair until the given time, or returns
	// ErrReplayed if it is already recorded and not yet expired.
	Consume(ctx context.Context, issuer, jti string, until time.Time) error
}

// ReplaySpend is one request id as a Spend recorded it: the pair and a
// value drawn for that call alone, which tells its entry apart from one
// a later request wrote once this one had expired.
type ReplaySpend struct {
	Issuer, JTI string
	Attempt     []byte
}

// UndoableReplayGuard is a ReplayGuard whose spends can be taken back. It
// lets an operation spend its request id while it reads what decides
// whether the request is refused, in the same round trip, and still leave
// nothing changed when the reads refuse it.
type UndoableReplayGuard interface {
	ReplayGuard
	// Spend is Consume, returning what Unspend needs. It returns the spend
	// whatever the outcome other than ErrReplayed: a put that failed may
	// still have been written.
	Spend(ctx context.Context, issuer, jti string, until time.Time) (ReplaySpend, error)
	// Unspend deletes the pair's entry if it is still the one spend
	// recorded, and nothing else: not a later request's entry, nor one
	// that was never written (both are no error). Afterwards the pair can
	// be spent again.
	Unspend(ctx context.Context, spend ReplaySpend) error
}

// Auditor receives one event per request and per background action.
type Auditor interface {
	Record(ctx context.Context, e audit.Event) error
}

// SealedRecord is a merchant record as key rotation sees it: which record
// it is (for the AAD; a listing leaves Ref.Clear empty, WithClearFields
// fills it where needed), its ciphertext and the key version that sealed
// it.
type SealedRecord struct {
	Ref        envelope.RecordRef
	Sealed     []byte
	KeyVersion uint32
	// Key is the store's own address of the item, opaque to the vault.
	Key string
}

// RotationState is a merchant's re-encryption progress, kept in the table
// so that a rotation cut off by a timeout or a crash resumes where it
// stopped.
type RotationState struct {
	MerchantID string
	// Running is false once the last rotation finished.
	Running bool
	// TargetVersion is the version records are moved to.
	TargetVersion uint32
	StartedAt     time.Time
	// PassStartedAt is when the current pass over the records began; a
	// pass that began after every container stopped using older versions
	// and found nothing left proves the old versions unused.
	PassStartedAt time.Time
	// Cursor is where the current pass stopped ("" at its start).
	Cursor string
	// Reencrypted counts records moved in this rotation; PassMoved those
	// moved in the current pass.
	Reencrypted int
	PassMoved   int
	// Revision orders writes of the state: a save is conditional on the
	// revision read, so two workers cannot both advance it.
	Revision int64
}

// RotationStore is what re-encryption needs of the store.
type RotationStore interface {
	// RecordsBelow lists up to limit records of the merchant sealed with a
	// key version below `below`, starting after cursor; the returned
	// cursor is "" when the listing is complete. It reads an index that
	// may lag the table a little: callers re-check with ResealRecord.
	RecordsBelow(ctx context.Context, merchantID string, below uint32, cursor string, limit int) ([]SealedRecord, string, error)
	// WithClearFields re-reads a listed record's item for its clear
	// fields, which a listing does not carry (the index holds no clear
	// data), and returns rec with Ref.Clear set (CardClearFields,
	// SecretClearFields): re-encryption needs them only to bind a format 1
	// record for the first time. ErrConflict if the item is gone or no
	// longer holds rec.Sealed: a concurrent write won, and the next pass
	// lists the record as it now is.
	WithClearFields(ctx context.Context, rec SealedRecord) (SealedRecord, error)
	// ResealRecord replaces rec's ciphertext with sealed (made with key
	// version) only if the item still holds rec.Sealed: ErrConflict if it
	// changed or is gone, so a concurrent update or delete always wins.
	ResealRecord(ctx context.Context, rec SealedRecord, sealed []byte, version uint32) error
	// CountRecords counts the merchant's records sealed with version.
	CountRecords(ctx context.Context, merchantID string, version uint32) (int, error)
	// RotationState reads the merchant's state (zero value if none).
	RotationState(ctx context.Context, merchantID string) (RotationState, error)
	// SaveRotationState writes st if the stored revision is still
	// st.Revision (0: none stored), storing st.Revision+1; else
	// ErrConflict.
	SaveRotationState(ctx context.Context, st RotationState) error
	// RecordsOf lists up to limit records of the merchant (any version),
	// for purging a shredded merchant.
	RecordsOf(ctx context.Context, merchantID string, cursor string, limit int) ([]SealedRecord, string, error)
	// DeleteRecord deletes a record and anything that points at it (a
	// card's index entry).
	DeleteRecord(ctx context.Context, rec SealedRecord) error
}
