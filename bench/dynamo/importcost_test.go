package dynamo

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/migrate"
	"github.com/cardvault/vault/shared/vault"
)

// BenchmarkImportWriteCost measures what an imported row asks of
// dynalite, call by call, against what a plain PutItem asks of it, in
// dynalite's own CPU time per item (the single-threaded database bounds
// an import, so its CPU per row sets the import's rate):
//
//   - put-us: a plain PutItem of a card-sized item (rawPutRate's);
//   - card-us: a card record as the vault writes it (BatchWriteItem of 25;
//     a record also writes its entries in the table's three GSIs);
//   - lookup-us: the strongly consistent BatchGetItem of a duplicate-
//     index entry that is not there, as for a new card;
//   - entry-us: the duplicate-index entry (BatchWriteItem of 25);
//   - checkpoint-us: a batch's claim, results and job save, per row of a
//     200-row batch.
//
// row-us is their sum, and row-in-puts the row's cost in plain puts:
// what the table's layout (a card record and an index entry per row,
// three GSIs) asks of dynalite beyond one item. put-busy is dynalite's CPU
// over the wall time of the plain puts (near 1: the puts kept it busy).
// Each call is measured over 5,000 items, three rounds in turn, so a
// noisy minute lands on every kind alike.
func BenchmarkImportWriteCost(b *testing.B) {
	for b.Loop() {
		benchImportWriteCost(b)
	}
}

func benchImportWriteCost(b *testing.B) {
	ctx := context.Background()
	db, st := startTable(b, "card-vault-cost")
	// rounds are counted after one that warms V8.
	const n, batch, rounds = 5_000, migrate.BatchSize, 3
	now := time.Now().UTC()
	masked := card.Mask("4000001234567899", card.Visa, 12, now.Year()+3)
	line := []byte("123,card_123,cus_123,vaulted,tok_abcdefghijklmnopqrstuv,fp_q9Xc0l8w5X0hZ8f0cOq1bWcF0Yy6m6eN2d0cVvZ0p6Q,4000,7899,visa,\n")
	results := bytes.Repeat(line, batch)

	cpu := func(f func() error) time.Duration {
		before, err := db.CPUTime()
		if err != nil {
			b.Fatal(err)
		}
		if err := f(); err != nil {
			b.Fatal(err)
		}
		after, err := db.CPUTime()
		if err != nil {
			b.Fatal(err)
		}
		return after - before
	}
	// chunks runs f on [lo, hi) chunks of size, four at a time, as the
	// import's calls are in flight.
	chunks := func(size int, f func(lo, hi int) error) error {
		var g errgroup.Group
		g.SetLimit(4)
		for lo := 0; lo < n; lo += size {
			g.Go(func() error { return f(lo, min(lo+size, n)) })
		}
		return g.Wait()
	}
	var put, putWall, cards, lookups, entries, checkpoints time.Duration
	for round := range rounds + 1 {
		recs := make([]vault.CardRecord, n)
		keys := make([]vault.CardIndexKey, n)
		idx := make([]vault.CardIndexEntry, n)
		for i := range recs {
			recs[i] = vault.CardRecord{
				Token: fmt.Sprintf("tok_cost%d_%016d", round, i), MerchantID: "m_cost", CustomerID: fmt.Sprintf("cus_%d_%d", round, i),
				Fingerprint: fmt.Sprintf("fp_%d_%040d", round, i), Masked: masked, Sealed: make([]byte, 100), KeyVersion: 1,
				CreatedAt: now, UpdatedAt: now,
			}
			keys[i] = vault.CardIndexKey{MerchantID: "m_cost", CustomerID: recs[i].CustomerID, Fingerprint: recs[i].Fingerprint}
			idx[i] = vault.CardIndexEntry{Key: keys[i], Token: recs[i].Token}
		}
		start := time.Now()
		p := cpu(func() error { rawPutRate(b, db.Endpoint, fmt.Sprintf("cost%d", round), n); return nil })
		wall := time.Since(start)
		c := cpu(func() error { return chunks(25, func(lo, hi int) error { return st.PutCards(ctx, recs[lo:hi]) }) })
		l := cpu(func() error {
			return chunks(100, func(lo, hi int) error { _, err := st.CardIndexes(ctx, keys[lo:hi]); return err })
		})
		e := cpu(func() error { return chunks(25, func(lo, hi int) error { return st.PutCardIndexes(ctx, idx[lo:hi]) }) })
		k := cpu(func() error {
			job := migrate.Job{ID: fmt.Sprintf("job_cost%d", round), MerchantID: "m_cost", Kind: migrate.KindImport,
				State: migrate.Running, Revision: 1, CreatedAt: now, UpdatedAt: now}
			if err := st.CreateJob(ctx, job); err != nil {
				return err
			}
			tokens := make([]string, batch)
			for i := 0; i < n/batch; i++ {
				for j := range tokens {
					tokens[j] = recs[i*batch+j].Token
				}
				if _, err := st.ClaimBatch(ctx, job.ID, i, tokens); err != nil {
					return err
				}
				if err := st.SaveBatchResults(ctx, job.ID, i, results); err != nil {
					return err
				}
				job.Rows += batch
				if err := st.SaveJob(ctx, job); err != nil {
					return err
				}
				job.Revision++
			}
			return nil
		})
		if round > 0 {
			put, cards, lookups, entries, checkpoints = put+p, cards+c, lookups+l, entries+e, checkpoints+k
			putWall += wall
		}
	}
	perItem := func(d time.Duration) float64 { return float64(d.Microseconds()) / (rounds * n) }
	b.ReportMetric(perItem(put), "put-us")
	b.ReportMetric(perItem(cards), "card-us")
	b.ReportMetric(perItem(lookups), "lookup-us")
	b.ReportMetric(perItem(entries), "entry-us")
	b.ReportMetric(perItem(checkpoints), "checkpoint-us")
	row := cards + lookups + entries + checkpoints
	b.ReportMetric(perItem(row), "row-us")
	b.ReportMetric(float64(row)/float64(put), "row-in-puts")
	b.ReportMetric(put.Seconds()/putWall.Seconds(), "put-busy")
}
