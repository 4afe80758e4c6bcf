package vault_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// batchStore is the fixture's store with its batch calls, counting the
// calls of each path and letting a test run code around them.
type batchStore struct {
	*cardStore
	batch vault.CardBatchStore

	mu                    sync.Mutex
	claims, creates       int
	reads, cards, entries int // items read and written in batches
	afterRead             func()
	onPutCards            func(recs []vault.CardRecord) error
	onPutEntries          func(entries []vault.CardIndexEntry) error
}

func newBatchStore(f *fixture) *batchStore {
	return &batchStore{cardStore: &cardStore{CardStore: f.store}, batch: f.store}
}

func (s *batchStore) ClaimCardIndex(ctx context.Context, key vault.CardIndexKey, token string, expiresAt time.Time) (string, error) {
	s.mu.Lock()
	s.claims++
	s.mu.Unlock()
	return s.cardStore.ClaimCardIndex(ctx, key, token, expiresAt)
}

func (s *batchStore) CreateCard(ctx context.Context, rec vault.CardRecord) error {
	s.mu.Lock()
	s.creates++
	s.mu.Unlock()
	return s.cardStore.CreateCard(ctx, rec)
}

func (s *batchStore) CardIndexes(ctx context.Context, keys []vault.CardIndexKey) ([]string, error) {
	s.mu.Lock()
	s.reads += len(keys)
	s.mu.Unlock()
	tokens, err := s.batch.CardIndexes(ctx, keys)
	if s.afterRead != nil {
		s.afterRead()
	}
	return tokens, err
}

func (s *batchStore) PutCards(ctx context.Context, recs []vault.CardRecord) error {
	s.mu.Lock()
	s.cards += len(recs)
	s.mu.Unlock()
	if s.onPutCards != nil {
		if err := s.onPutCards(recs); err != nil {
			return err
		}
	}
	return s.batch.PutCards(ctx, recs)
}

func (s *batchStore) PutCardIndexes(ctx context.Context, entries []vault.CardIndexEntry) error {
	s.mu.Lock()
	s.entries += len(entries)
	s.mu.Unlock()
	if s.onPutEntries != nil {
		if err := s.onPutEntries(entries); err != nil {
			return err
		}
	}
	return s.batch.PutCardIndexes(ctx, entries)
}

func (s *batchStore) counts() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("claims %d, creates %d, batch reads %d, cards %d, entries %d", s.claims, s.creates, s.reads, s.cards, s.entries)
}

// importRows are n new cards of distinct customers, under opaque tokens.
func importRows(f *fixture, n int) []vault.ImportedCard {
	rows := make([]vault.ImportedCard, n)
	for i := range rows {
		rows[i] = importedCard(f, fmt.Sprintf("cus_%d", i), luhnNumber(i), vault.TokenFormatOpaque)
	}
	return rows
}

// luhnNumber is a Luhn-valid 16-digit Visa number, distinct per i.
func luhnNumber(i int) string {
	body := fmt.Sprintf("400000%09d", i)
	return body + string(card.LuhnCheckDigit(body))
}

// exported opens every card of the merchant as an export does: each must
// open under its record's AAD.
func (f *fixture) exported(m string) map[string]vault.ExportedCard {
	f.t.Helper()
	out := map[string]vault.ExportedCard{}
	if _, _, err := f.cards.ExportCards(ctx, m, f.store, nil, func(c vault.ExportedCard) error {
		out[c.Token] = c
		return nil
	}); err != nil {
		f.t.Fatalf("ExportCards: %v", err)
	}
	return out
}

// checkImported fails unless every row is vaulted as new under its own
// token, which the index names and a vault_card of the card finds, and
// the merchant has others cards besides.
func checkImported(f *fixture, m string, rows []vault.ImportedCard, res []vault.ImportedResult, others int) {
	f.t.Helper()
	cards := f.exported(m)
	if len(cards) != len(rows)+others {
		f.t.Fatalf("%d cards stored for %d rows and %d others", len(cards), len(rows), others)
	}
	for i, r := range res {
		if r.Err != nil || r.View.Token != rows[i].Token {
			f.t.Fatalf("row %d: %+v, want vaulted under %q", i, r, rows[i].Token)
		}
		if c, ok := cards[r.View.Token]; !ok || c.Number.Reveal() != rows[i].Card.Number.Reveal() || c.CustomerID != rows[i].CustomerID {
			f.t.Fatalf("row %d: its card is not stored under its token", i)
		}
		if tok, err := f.store.CardIndex(ctx, vault.CardIndexKey{MerchantID: m, CustomerID: rows[i].CustomerID, Fingerprint: r.View.Fingerprint}); err != nil || tok != rows[i].Token {
			f.t.Fatalf("row %d: the index names %q, %v", i, tok, err)
		}
	}
	again := f.cardInput(m, rows[0].CustomerID, rows[0].Card.Number.Reveal())
	if view, _, err := f.cards.VaultCard(ctx, again); err != nil || !view.Duplicate || view.Token != rows[0].Token {
		f.t.Fatalf("vault_card of an imported card: %+v %v", view, err)
	}
}

// New cards under opaque tokens are written in batches, not claimed one
// by one; a card the merchant and customer already have, a refused row
// and a repeat of a card within the rows take vault_card's path and are
// answered as it answers.
func TestImportedNewCardsAreBatchWritten(t *testing.T) {
	f := newFixture(t)
	bs := newBatchStore(f)
	f.rebuild(bs)
	existing := f.vault("m_imp", "cus_old", mastercard)
	rows := importRows(f, 40)
	old := importedCard(f, "cus_old", mastercard, vault.TokenFormatOpaque)
	invalid := importedCard(f, "cus_bad", "4242424242424241", vault.TokenFormatOpaque)
	repeat := importedCard(f, rows[3].CustomerID, rows[3].Card.Number.Reveal(), vault.TokenFormatOpaque)
	all := append(append([]vault.ImportedCard{}, rows...), old, invalid, repeat)
	bs.claims, bs.creates = 0, 0
	// A record before its entry: no entry is written before its record.
	bs.onPutEntries = func(entries []vault.CardIndexEntry) error {
		for _, e := range entries {
			if _, err := f.store.Card(ctx, e.Token); err != nil {
				t.Errorf("entry for %s written before its record: %v", e.Token, err)
			}
		}
		return nil
	}

	res, err := f.cards.VaultImported(ctx, "m_imp", vault.TokenFormatOpaque, all)
	if err != nil {
		t.Fatal(err)
	}
	n := len(rows)
	if r := res[n]; r.Err != nil || !r.View.Duplicate || r.View.Token != existing.Token {
		t.Fatalf("a card already vaulted: %+v, want the duplicate %q", r, existing.Token)
	}
	wantCode(t, res[n+1].Err, vaulterr.InvalidCard)
	if r := res[n+2]; r.Err != nil || !r.View.Duplicate || r.View.Token != rows[3].Token {
		t.Fatalf("a repeat within the rows: %+v, want the duplicate %q", r, rows[3].Token)
	}
	if got, want := bs.counts(), fmt.Sprintf("claims 2, creates 0, batch reads %d, cards %d, entries %d", n+1, n, n); got != want {
		t.Fatalf("store calls: %s; want %s", got, want)
	}
	checkImported(f, "m_imp", rows, res[:n], 1)
}

// Card-shaped tokens can be another card's, so their records are only
// ever created conditionally, one by one.
func TestImportedCardShapedTokensAreNeverBatchWritten(t *testing.T) {
	f := newFixture(t)
	bs := newBatchStore(f)
	f.rebuild(bs)
	rows := []vault.ImportedCard{
		importedCard(f, "cus_1", visa, vault.TokenFormatCard),
		importedCard(f, "cus_2", mastercard, vault.TokenFormatCard),
	}
	res, err := f.cards.VaultImported(ctx, "m_imp", vault.TokenFormatCard, rows)
	if err != nil {
		t.Fatal(err)
	}
	if got := bs.counts(); got != "claims 2, creates 2, batch reads 0, cards 0, entries 0" {
		t.Fatalf("store calls: %s", got)
	}
	checkImported(f, "m_imp", rows, res, 0)
}

// A run cut off after the records were written and before (or while) the
// entries were: the batch's next run, with the same tokens, vaults every
// row exactly once under its own token.
func TestImportResumedBetweenRecordsAndEntriesVaultsEachRowOnce(t *testing.T) {
	for name, written := range map[string]int{"no entry written": 0, "half the entries written": 10} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			bs := newBatchStore(f)
			f.rebuild(bs)
			rows := importRows(f, 20)
			cutting := true
			bs.onPutEntries = func(entries []vault.CardIndexEntry) error {
				if !cutting {
					return nil
				}
				cutting = false
				if err := f.store.PutCardIndexes(ctx, entries[:written]); err != nil {
					return err
				}
				return vaulterr.Wrap(vaulterr.Unavailable, "storage unavailable", errStorage)
			}
			if _, err := f.cards.VaultImported(ctx, "m_imp", vault.TokenFormatOpaque, rows); vaulterr.CodeOf(err) != vaulterr.Unavailable {
				t.Fatalf("the cut run: %v, want unavailable", err)
			}
			if n := len(f.exported("m_imp")); n != len(rows) {
				t.Fatalf("%d records after the cut, want %d", n, len(rows))
			}
			res, err := f.cards.VaultImported(ctx, "m_imp", vault.TokenFormatOpaque, rows)
			if err != nil {
				t.Fatal(err)
			}
			checkImported(f, "m_imp", rows, res, 0)
		})
	}
}

// Rows are written a chunk at a time, several chunks at once: one chunk's
// entries failing leaves the others' rows as they got, and the batch's
// next run vaults every row exactly once under its own token.
func TestImportCutInOneChunkVaultsEachRowOnceOnTheNextRun(t *testing.T) {
	f := newFixture(t)
	bs := newBatchStore(f)
	f.rebuild(bs)
	rows := importRows(f, 90) // four chunks of at most 25
	var cut sync.Once
	bs.onPutEntries = func(entries []vault.CardIndexEntry) error {
		err := error(nil)
		if entries[0].Token == rows[25].Token { // the second chunk
			cut.Do(func() { err = vaulterr.Wrap(vaulterr.Unavailable, "storage unavailable", errStorage) })
		}
		return err
	}
	if _, err := f.cards.VaultImported(ctx, "m_imp", vault.TokenFormatOpaque, rows); vaulterr.CodeOf(err) != vaulterr.Unavailable {
		t.Fatalf("the cut run: %v, want unavailable", err)
	}
	res, err := f.cards.VaultImported(ctx, "m_imp", vault.TokenFormatOpaque, rows)
	if err != nil {
		t.Fatal(err)
	}
	checkImported(f, "m_imp", rows, res, 0)
}

// A batch the store refuses as a request (without saying which item) is
// written row by row instead, each row through vault_card's path.
func TestImportedBatchRefusedIsWrittenRowByRow(t *testing.T) {
	for name, refuse := range map[string]func(bs *batchStore){
		"records": func(bs *batchStore) {
			bs.onPutCards = func([]vault.CardRecord) error { return fmt.Errorf("%w: ValidationException", vault.ErrBatchRefused) }
		},
		"entries": func(bs *batchStore) {
			bs.onPutEntries = func([]vault.CardIndexEntry) error {
				return fmt.Errorf("%w: ValidationException", vault.ErrBatchRefused)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			bs := newBatchStore(f)
			f.rebuild(bs)
			refuse(bs)
			rows := importRows(f, 5)
			res, err := f.cards.VaultImported(ctx, "m_imp", vault.TokenFormatOpaque, rows)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r.View.Duplicate {
					t.Fatalf("row %d: %+v, want it new", i, r)
				}
			}
			if bs.claims != len(rows) {
				t.Fatalf("store calls: %s; want every row claimed", bs.counts())
			}
			checkImported(f, "m_imp", rows, res, 0)
		})
	}
}

// What the unconditional writes give up (docs/table.md): a vault_card of
// the same card for the same customer that claims the entry after the
// import read it leaves the card two live tokens, both of them working,
// and the index names the import's.
func TestImportRacingVaultCardLeavesTwoLiveTokens(t *testing.T) {
	f := newFixture(t)
	bs := newBatchStore(f)
	f.rebuild(bs)
	rows := importRows(f, 1)
	var racer vault.CardView
	bs.afterRead = once(func() { racer = f.vault("m_imp", rows[0].CustomerID, rows[0].Card.Number.Reveal()) })
	res, err := f.cards.VaultImported(ctx, "m_imp", vault.TokenFormatOpaque, rows)
	if err != nil || res[0].Err != nil || res[0].View.Token != rows[0].Token || racer.Token == "" || racer.Token == rows[0].Token {
		t.Fatalf("import %+v %v; vault_card %+v", res, err, racer)
	}
	cards := f.exported("m_imp")
	if _, ok := cards[racer.Token]; !ok || len(cards) != 2 {
		t.Fatalf("%d cards; vault_card's token live: %v", len(cards), ok)
	}
	if tok, err := f.store.CardIndex(ctx, vault.CardIndexKey{MerchantID: "m_imp", CustomerID: rows[0].CustomerID, Fingerprint: racer.Fingerprint}); err != nil || tok != rows[0].Token {
		t.Fatalf("the index names %q, %v; want the import's %q", tok, err, rows[0].Token)
	}
}

// A batch prepared (sealed) before its merchant is shredded is not
// written after it: the store step reads the shred mark again, beside
// the batch's duplicate lookups, and stores nothing. So on either path.
func TestImportPreparedBeforeAShredIsNotStored(t *testing.T) {
	for _, format := range []vault.TokenFormat{vault.TokenFormatOpaque, vault.TokenFormatCard} {
		t.Run(string(format), func(t *testing.T) {
			f := newFixture(t)
			bs := newBatchStore(f)
			f.rebuild(bs)
			rows := []vault.ImportedCard{importedCard(f, "cus_1", visa, format), importedCard(f, "cus_2", mastercard, format)}
			p, err := f.cards.PrepareImported(ctx, "m_imp", format, rows)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.keyLife.ShredMerchant(ctx, f.caller("m_imp")); err != nil {
				t.Fatal(err)
			}
			_, err = f.cards.StoreImported(ctx, p)
			wantCode(t, err, vaulterr.NotFound)
			if got := bs.counts(); got != "claims 0, creates 0, batch reads 0, cards 0, entries 0" && got != fmt.Sprintf("claims 0, creates 0, batch reads %d, cards 0, entries 0", len(rows)) {
				t.Fatalf("store calls after the shred: %s", got)
			}
			recs, _, err := f.store.RecordsOf(ctx, "m_imp", "", 100)
			if err != nil || len(recs) != 0 {
				t.Fatalf("%d records stored for a shredded merchant: %v", len(recs), err)
			}
		})
	}
}
