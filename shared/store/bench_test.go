package store

import (
	"context"
	"fmt"
	"testing"
)

// Benchmarks measure the store's own cost plus a loopback round trip to
// dynalite; against AWS the round trip dominates.

func BenchmarkCard(b *testing.B) {
	s := newTestStore(b)
	ctx := context.Background()
	rec := sampleCard("tok_bench")
	if err := s.CreateCard(ctx, rec); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Card(ctx, rec.Token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateCard(b *testing.B) {
	s := newTestStore(b)
	ctx := context.Background()
	rec := sampleCard("")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rec.Token = fmt.Sprintf("tok_%d", i)
		i++
		if err := s.CreateCard(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
}
