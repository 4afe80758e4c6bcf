package vault

import (
	"context"
	"sync"
	"time"
	"unicode/utf8"

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

// importConcurrency is how many rows of a batch are vaulted at once: the
// store's round trips, not the CPU, bound an import.
const importConcurrency = 16

// VaultImported vaults a batch of one merchant's imported cards through
// vault_card's own path: the same validation, fingerprint, sealing (AAD)
// and duplicate detection per merchant and customer. The merchant is
// checked and its primary key fetched once per batch; a row's refusal
// (invalid card, customer id) is its own result and does not stop the
// others. The error is for the batch as a whole (merchant shredded, keys
// or store unavailable): then no result is to be trusted and the batch
// is run again. format is the job's token_format: each row's Token must
// be of it (ImportToken draws one), and a card-shaped token that turns
// out to be another record's is redrawn as vault_card redraws it.
func (v *CardVault) VaultImported(ctx context.Context, merchantID string, format TokenFormat, rows []ImportedCard) ([]ImportedResult, Trace, error) {
	if _, ok := ParseTokenFormat(string(format)); !ok {
		return nil, Trace{}, vaulterr.New(vaulterr.Malformed, `token_format must be "opaque" or "card"`)
	}
	if format == "" {
		format = TokenFormatOpaque
	}
	if err := checkMerchant(ctx, v.merchants, merchantID); err != nil {
		return nil, Trace{}, err
	}
	keys, usage, err := v.keys.Primary(ctx, merchantID)
	if err != nil {
		return nil, Trace{}, mapKeyError(err)
	}
	trace := Trace{KeyVersion: keys.Version()}
	trace.usedKeys(usage)

	results := make([]ImportedResult, len(rows))
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
				view, err := v.vaultImported(ctx, keys, merchantID, format, rows[i])
				results[i] = ImportedResult{View: view, Err: err}
				if err != nil && rowFailsBatch(err) {
					mu.Lock()
					batchErr = err
					mu.Unlock()
				}
			}
		}()
	}
	for i := range rows {
		next <- i
	}
	close(next)
	wg.Wait()
	if batchErr != nil {
		return nil, trace, batchErr
	}
	return results, trace, nil
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

func (v *CardVault) vaultImported(ctx context.Context, keys *envelope.MerchantKeys, merchantID string, format TokenFormat, row ImportedCard) (CardView, error) {
	now := v.now().UTC()
	c, err := validateCard(row.Card, now)
	if err != nil {
		return CardView{}, err
	}
	if row.CustomerID != "" && utf8.RuneCountInString(row.CustomerID) > MaxCustomerIDChars {
		return CardView{}, vaulterr.New(vaulterr.InvalidCard, "customer_id must be 1 to 128 characters")
	}
	if !tokenFits(format, row.Token, c.digits) {
		return CardView{}, vaulterr.New(vaulterr.Internal, "internal error")
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
	// record's clear fields), and stored by the same conditional writes.
	if err := v.sealCard(keys, &rec, c.sealed); err != nil {
		return CardView{}, err
	}
	view, _, err := v.storeCard(ctx, keys, rec, c.sealed, format)
	return view, err
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

// CheckMerchantWith is CheckMerchant with read, a read that decides
// nothing about the merchant, in flight at the same time: one round trip
// instead of two. The merchant's refusal comes first, as it would had
// they run in turn; read must change nothing, since it runs for a
// merchant that may turn out to be refused.
func CheckMerchantWith(ctx context.Context, status MerchantStatus, merchantID string, read func() error) error {
	var merchantErr, readErr error
	inParallel(
		func() { merchantErr = checkMerchant(ctx, status, merchantID) },
		func() { readErr = read() },
	)
	return firstError(merchantErr, readErr)
}
