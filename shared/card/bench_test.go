package card

import "testing"

func BenchmarkValidate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate("6205500000000000004"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Normalize("4242 4242 4242 4242"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMask(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Mask("4242424242424242", Visa, 12, 2030)
	}
}

func BenchmarkFindCVC(b *testing.B) {
	card := []byte(`{"number":"4242424242424242","exp_month":12,"exp_year":2030,"holder_name":"Jane Doe"}`)
	b.ReportAllocs()
	for b.Loop() {
		if FindCVC(card) {
			b.Fatal("cvc found")
		}
	}
}
