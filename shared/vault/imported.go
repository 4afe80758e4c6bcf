package vault

import (
	"context"
	"errors"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vaulterr"
)

// ImportedCard is one row of an import file: a card to vault as
// vault_card would, without a request of its own (the import job was
// authenticated and its request id spent when it was created).
type ImportedCard struct {
	CustomerID string
	Card       CardInput
	// Token is the token the card gets if it is new. The import draws it
	// before vaulting and keeps it with its checkpoint, so a row vaulted
	// again after a crash finds its own token in the duplicate index and
	// is told apart from a card that really was there before.
	Token string
}

// ImportedResult is what vaulting one imported card gave: the view
// vault_card would answer, or the error it would refuse the card with.
type ImportedResult struct {
	View CardView
	Err  error
}

// importConcurrency is how many rows of a batch are checked and sealed,
// or vaulted on the per-row path, at once: the store's round trips, not
// the CPU, bound an import.
const importConcurrency = 16

// PreparedImport is a batch of imported cards checked and sealed by
// PrepareImported, to be stored once by StoreImported.
type PreparedImport struct {
	merchantID string
	format     TokenFormat
	keys       *envelope.MerchantKeys
	prepared   []importedRecord
	results    []ImportedResult
}

// PrepareImported is the first half of vaulting a batch of one merchant's
// imported cards with vault_card's checks, fingerprint, sealing (AAD) and
// duplicate detection per merchant and customer: the merchant checked,
// its primary key fetched once for the batch, every row validated,
// fingerprinted and sealed under its token; nothing is stored. A row's
// refusal (invalid card, customer id) is its own result and does not stop
// the others. The error is for the batch as a whole (merchant shredded,
// keys unavailable). format is the job's token_format: each row's Token
// must be of it (ImportToken draws one). The migrate worker prepares a
// batch while the batch before it is stored, since sealing is CPU the
// table need not wait for.
func (v *CardVault) PrepareImported(ctx context.Context, merchantID string, format TokenFormat, rows []ImportedCard) (*PreparedImport, error) {
	if _, ok := ParseTokenFormat(string(format)); !ok {
		return nil, vaulterr.New(vaulterr.Malformed, `token_format must be "opaque" or "card"`)
	}
	if format == "" {
		format = TokenFormatOpaque
	}
	if err := checkMerchant(ctx, v.merchants, merchantID); err != nil {
		return nil, err
	}
	keys, _, err := v.keys.Primary(ctx, merchantID)
	if err != nil {
		return nil, mapKeyError(err)
	}
	p := &PreparedImport{
		merchantID: merchantID, format: format, keys: keys,
		prepared: make([]importedRecord, len(rows)), results: make([]ImportedResult, len(rows)),
	}
	all := make([]int, len(rows))
	for i := range all {
		all[i] = i
	}
	if err := eachRow(all, func(i int) error {
		rec, sc, err := v.prepareImported(keys, merchantID, format, rows[i])
		p.prepared[i] = importedRecord{rec: rec, sc: sc, ok: err == nil}
		p.results[i].Err = err
		return err
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// StoreImported is the second half: the prepared rows stored, and their
// results, one a row, answered as vault_card would answer (a card-shaped
// token that turns out to be another record's is redrawn as vault_card
// redraws it). The merchant's shred mark is read again beside the batch's
// duplicate lookups, so a batch prepared before a shred is not written
// after it, at no extra round trip. The error is for the batch as a whole
// (merchant shredded, store unavailable): then no result is to be trusted
// and the batch is run again.
//
// The rows should not repeat a card for a customer (the migrate worker
// puts repeats in later calls): a repeat is still vaulted
// right, as a duplicate, but only after the other rows. When the store
// can write in batches (CardBatchStore), rows under opaque tokens whose
// card no entry of the duplicate index names are stored without
// vault_card's conditional writes (storeNewImported); every other row goes
// through vault_card's own path (storeCard). docs/table.md says what the
// unconditional writes give up.
func (v *CardVault) StoreImported(ctx context.Context, p *PreparedImport) ([]ImportedResult, error) {
	var (
		perRow []int
		err    error
	)
	// A card-shaped token can be another card's (it has few random
	// digits), so its record is only ever created conditionally.
	if batch, ok := v.cards.(CardBatchStore); ok && p.format == TokenFormatOpaque {
		if perRow, err = v.storeNewImported(ctx, batch, p.merchantID, p.prepared, p.results); err != nil {
			return nil, err
		}
	} else {
		if err := checkMerchant(ctx, v.merchants, p.merchantID); err != nil {
			return nil, err
		}
		for i := range p.prepared {
			if p.prepared[i].ok {
				perRow = append(perRow, i)
			}
		}
	}
	if err := eachRow(perRow, func(i int) error {
		view, _, err := v.storeCard(ctx, p.keys, p.prepared[i].rec, p.prepared[i].sc, p.format)
		p.results[i] = ImportedResult{View: view, Err: err}
		return err
	}); err != nil {
		return nil, err
	}
	return p.results, nil
}

// importedRecord is a row checked and sealed, ready to store (ok false:
// the row was refused, and its result says why).
type importedRecord struct {
	rec CardRecord
	sc  sealedCard
	ok  bool
}

// eachRow runs fn for each of rows, importConcurrency at a time, and
// returns an error fn gave that fails the batch (rowFailsBatch).
func eachRow(rows []int, fn func(i int) error) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		batchErr error
	)
	next := make(chan int)
	for range min(importConcurrency, len(rows)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil && rowFailsBatch(err) {
					mu.Lock()
					batchErr = err
					mu.Unlock()
				}
			}
		}()
	}
	for _, i := range rows {
		next <- i
	}
	close(next)
	wg.Wait()
	return batchErr
}

// rowFailsBatch tells a refusal of the row itself (its card, its
// customer id) from a failure of the vault, which must not be recorded
// as the row's result.
func rowFailsBatch(err error) bool {
	switch vaulterr.CodeOf(err) {
	case vaulterr.InvalidCard, vaulterr.CVCNotAccepted, vaulterr.Malformed:
		return false
	}
	return true
}

// storeNewImported stores the prepared rows that are new cards with batch
// writes. Their index entries are read (strongly consistent, up to 100 a
// round trip, beside the merchant's shred mark), and the rows found in
// none are written unconditionally, each row's record before its entry
// (putImportedChunks). So a concurrent vault_card that finds one of these
// entries always finds its record, and never writes one under the
// import's token that the import would then overwrite; and a run cut off
// part way leaves records (some with their entries) under tokens that the
// job's checkpoint holds and no answer has named yet, which the batch's
// next run finds as its own or writes again under the same tokens. It
// fills the results of the rows it stored and returns the rows left for
// the per-row path: those whose card an entry names (a duplicate, or a
// row this batch's earlier run stored), a card repeated within rows, and
// every row it would have written if the store refused the batch as a
// request.
func (v *CardVault) storeNewImported(ctx context.Context, batch CardBatchStore, merchantID string, prepared []importedRecord, results []ImportedResult) ([]int, error) {
	var (
		perRow, fresh []int
		keys          []CardIndexKey
	)
	seen := make(map[CardIndexKey]bool, len(prepared))
	for i, p := range prepared {
		if !p.ok {
			continue
		}
		key := CardIndexKey{p.rec.MerchantID, p.rec.CustomerID, p.rec.Fingerprint}
		if seen[key] {
			// Written unconditionally beside its first row, a repeat
			// would leave the card two records; after them, it is
			// found as their duplicate.
			perRow = append(perRow, i)
			continue
		}
		seen[key] = true
		fresh = append(fresh, i)
		keys = append(keys, key)
	}
	var indexed []string
	err := CheckMerchantWith(ctx, v.merchants, merchantID, func() (err error) {
		if len(fresh) > 0 {
			indexed, err = batch.CardIndexes(ctx, keys)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var (
		recs    []CardRecord
		entries []CardIndexEntry
		written []int
	)
	for k, i := range fresh {
		if indexed[k] != "" {
			perRow = append(perRow, i)
			continue
		}
		rec := prepared[i].rec
		recs = append(recs, rec)
		entries = append(entries, CardIndexEntry{Key: keys[k], Token: rec.Token, ExpiresAt: rec.ExpiresAt})
		written = append(written, i)
	}
	if len(written) == 0 {
		return perRow, nil
	}
	err = putImportedChunks(ctx, batch, recs, entries)
	if errors.Is(err, ErrBatchRefused) {
		// Written or not, each of these rows is stored right by the
		// per-row path: a record this run wrote holds the very
		// ciphertext the row's create repeats, which is no conflict.
		return append(perRow, written...), nil
	}
	if err != nil {
		return nil, err
	}
	for _, i := range written {
		results[i] = ImportedResult{View: viewOf(prepared[i].rec, false)}
	}
	return perRow, nil
}

// Imported cards are written a chunk at a time, each chunk its records
// and then their entries (one BatchWriteItem's worth of each), and
// importChains chunks at once: a chunk's entries follow its own records
// without waiting for the other chunks', so the table always has writes
// to work on rather than idling at a barrier between all the records and
// all the entries.
const (
	importChunk  = 25
	importChains = 4
)

// putImportedChunks writes recs and their entries (entries[i] names
// recs[i]) chunk by chunk, every entry after its own record, and returns
// the first error.
func putImportedChunks(ctx context.Context, batch CardBatchStore, recs []CardRecord, entries []CardIndexEntry) error {
	var g errgroup.Group
	g.SetLimit(importChains)
	for lo := 0; lo < len(recs); lo += importChunk {
		hi := min(lo+importChunk, len(recs))
		g.Go(func() error {
			if err := batch.PutCards(ctx, recs[lo:hi]); err != nil {
				return err
			}
			return batch.PutCardIndexes(ctx, entries[lo:hi])
		})
	}
	return g.Wait()
}

// prepareImported checks a row as vault_card checks its card and seals
// it into the record it gets if it is new.
func (v *CardVault) prepareImported(keys *envelope.MerchantKeys, merchantID string, format TokenFormat, row ImportedCard) (CardRecord, sealedCard, error) {
	now := v.now().UTC()
	c, err := validateCard(row.Card, now)
	if err != nil {
		return CardRecord{}, sealedCard{}, err
	}
	if row.CustomerID != "" && utf8.RuneCountInString(row.CustomerID) > MaxCustomerIDChars {
		return CardRecord{}, sealedCard{}, vaulterr.New(vaulterr.InvalidCard, "customer_id must be 1 to 128 characters")
	}
	if !tokenFits(format, row.Token, c.digits) {
		return CardRecord{}, sealedCard{}, vaulterr.New(vaulterr.Internal, "internal error")
	}
	rec := CardRecord{
		Token:       row.Token,
		MerchantID:  merchantID,
		CustomerID:  row.CustomerID,
		Fingerprint: cardFingerprint(keys, c.digits),
		Masked:      c.masked,
		KeyVersion:  keys.Version(),
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	// Sealed as vault_card seals (record format 2: the AAD binds the
	// record's clear fields).
	if err := v.sealCard(keys, &rec, c.sealed); err != nil {
		return CardRecord{}, sealedCard{}, err
	}
	return rec, c.sealed, nil
}

// tokenFits reports whether token is a new token of format for the card
// whose validated number is digits: opaque, or card-shaped with the
// number's length, first 4 and last 4.
func tokenFits(format TokenFormat, token, digits string) bool {
	if format != TokenFormatCard {
		return validOpaqueToken(token)
	}
	n := len(digits)
	return isCardToken(token) && len(token) == n && token[:4] == digits[:4] && token[n-4:] == digits[n-4:]
}

// MaxCustomerIDChars bounds customer_id, per the contract.
const MaxCustomerIDChars = 128

// ImportToken draws the token an imported card gets if it is new: of
// format, for the card number as the file gives it. A number that is no
// card (the row will be refused) gets an opaque token, which is never
// used.
func ImportToken(format TokenFormat, number secret.Secret[string]) (string, error) {
	if format != TokenFormatCard {
		return newOpaqueToken()
	}
	digits, err := card.Normalize(number.Reveal())
	if err != nil || len(digits) < minCardTokenDigits || len(digits) > maxCardTokenDigits {
		return newOpaqueToken()
	}
	return newCardToken(digits)
}

// SpendRequest spends the caller's request id (replay window), for
// operations outside this package that carry a request out.
func SpendRequest(ctx context.Context, replay ReplayGuard, c Caller, now time.Time) error {
	return consume(ctx, replay, c, now)
}

// CheckMerchant refuses a shredded merchant with not_found, as every
// operation of this package does.
func CheckMerchant(ctx context.Context, status MerchantStatus, merchantID string) error {
	return checkMerchant(ctx, status, merchantID)
}
