package migrate_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/jobfiles"
	"github.com/cardvault/vault/shared/memstore"
	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/pgpfile"
	"github.com/cardvault/vault/shared/secret"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// cutEntries is the in-memory store whose cutAt-th batch write of index
// entries fails, as a run killed after writing a batch's card records and
// before their entries leaves the table.
type cutEntries struct {
	*memstore.Store
	cutAt int64
	calls atomic.Int64
}

func (c *cutEntries) PutCardIndexes(ctx context.Context, entries []vault.CardIndexEntry) error {
	if c.calls.Add(1) == c.cutAt {
		return vaulterr.Wrap(vaulterr.Unavailable, "storage unavailable", errors.New("simulated crash"))
	}
	return c.Store.PutCardIndexes(ctx, entries)
}

type noWork struct{}

func (noWork) StartJob(context.Context, string) error { return nil }

// luhnCard is a Luhn-valid 16-digit Visa number, distinct per i.
func luhnCard(i int) string {
	body := fmt.Sprintf("400000%09d", i)
	return body + string(card.LuhnCheckDigit(body))
}

// TestImportResumedAfterACutBetweenRecordsAndEntries: the second batch's
// card records are written, its index entries are not, and the run
// stops. The next run vaults every row exactly once, under the tokens the
// batch claimed the first time, and the counts and result lines are those
// of a run never cut.
func TestImportResumedAfterACutBetweenRecordsAndEntries(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	// One entry write a batch: the second batch's is cut.
	cut := &cutEntries{Store: st, cutAt: 2}
	master := make([]byte, envelope.MasterKeySize)
	for i := range master {
		master[i] = byte(i + 7)
	}
	keyring, err := envelope.NewLocalKeyring(secret.New(master))
	if err != nil {
		t.Fatal(err)
	}
	cards := vault.NewCardVault(cut, st, st, envelope.NewManager(keyring, st, envelope.Options{}), time.Now)
	doc, err := pgpfile.GenerateKey("test import key", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ring, err := pgpfile.ParseKeyRing(doc.Reveal(), nil)
	if err != nil {
		t.Fatal(err)
	}
	files, err := jobfiles.NewLocal(filepath.Join(t.TempDir(), "files"), make([]byte, 32), "http://127.0.0.1", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	const batch, rows = 10, 25
	logger := slog.New(slog.DiscardHandler)
	jobs := migrate.NewJobs(st, files, st, st, noWork{}, time.Now)
	worker := migrate.NewWorker(st, files, cards, st, ring, noWork{}, &memstore.Audit{}, logger, time.Now).WithBatchSize(batch)

	// Row 13 (second batch) repeats row 4's card and customer: a
	// duplicate found in the index, on either run.
	var b strings.Builder
	b.WriteString("number,exp_month,exp_year,customer_id,reference\n")
	year := time.Now().Year() + 2
	for i := range rows {
		n := i
		if i == 13 {
			n = 4
		}
		fmt.Fprintf(&b, "%s,%d,%d,cus_%d,ref_%d\n", luhnCard(n), 1+i%12, year, n%9, i)
	}
	created, err := jobs.ImportCards(ctx, vault.Caller{ClientID: "c", MerchantID: "m_cut", JTI: "jti-1"}, migrate.ImportSpec{Format: migrate.FormatGeneric})
	if err != nil {
		t.Fatal(err)
	}
	jobID := created.Job.ID
	if err := files.Put(ctx, migrate.UploadPrefix+jobID, bytes.NewReader(encryptTo(t, ring, b.String()))); err != nil {
		t.Fatal(err)
	}

	// The first batch goes through; the second is cut.
	if out, err := worker.Run(ctx, jobID); err == nil || out.Done {
		t.Fatalf("the cut run: %+v %v", out, err)
	}
	job, err := st.Job(ctx, jobID)
	if err != nil || job.State != migrate.Running || job.Offset != batch || cut.calls.Load() != 2 {
		t.Fatalf("after the cut: %+v %v (%d entry writes)", job, err, cut.calls.Load())
	}
	// The cut batch's records are in, under its claimed tokens.
	claimed, err := st.ClaimBatch(ctx, jobID, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range claimed.Tokens {
		if _, err := st.Card(ctx, tok); err != nil && i != 3 {
			t.Fatalf("row %d of the cut batch has no record under %s: %v", batch+i+1, tok, err)
		}
	}

	out, err := worker.Run(ctx, jobID)
	if err != nil || out.State != migrate.Succeeded {
		t.Fatalf("the resumed run: %+v %v", out, err)
	}
	job, err = st.Job(ctx, jobID)
	if err != nil || job.Rows != rows || job.Vaulted != rows-1 || job.Duplicates != 1 || job.Rejected != 0 {
		t.Fatalf("resumed job: %+v %v", job, err)
	}
	result := readResult(t, files, jobID)
	if len(result) != rows+1 {
		t.Fatalf("%d result lines", len(result)-1)
	}
	tokens := map[string]bool{}
	for i, line := range result[1:] {
		claimed, err := st.ClaimBatch(ctx, jobID, i/batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		own := claimed.Tokens[i%batch]
		switch {
		case i == 13:
			if line[3] != "duplicate" || line[4] != result[5][4] {
				t.Fatalf("row 14: %v, want a duplicate of row 5 (%s)", line, result[5][4])
			}
			continue
		case line[3] != "vaulted" || line[4] != own || tokens[own] || line[1] != fmt.Sprintf("ref_%d", i):
			t.Fatalf("row %d: %v, want vaulted under its claimed token %s", i+1, line, own)
		}
		tokens[own] = true
	}
	recs, _, err := st.RecordsOf(ctx, "m_cut", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != rows-1 {
		t.Fatalf("%d card records for %d cards", len(recs), rows-1)
	}
	for _, r := range recs {
		if !tokens[r.Ref.ID] {
			t.Fatalf("record %s is in no result line", r.Ref.ID)
		}
	}
}

func encryptTo(t *testing.T, ring *pgpfile.KeyRing, text string) []byte {
	t.Helper()
	pub, err := ring.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	to, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(pub))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := openpgp.Encrypt(&out, to, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(w, text)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func readResult(t *testing.T, files *jobfiles.Local, jobID string) [][]string {
	t.Helper()
	f, err := files.Open(context.Background(), "results/"+jobID+".csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return lines
}
