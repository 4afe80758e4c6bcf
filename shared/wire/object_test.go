package wire

import "testing"

func TestObjectReadsTypedMembersByExactName(t *testing.T) {
	members, err := parseStrictObject([]byte(`{"card":{"number":"42\u0034","exp_month":12,"holder_name":null,"Exp_Year":2030},"n":1.5,"s":7}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	claims := Object{members: members}
	card, present, err := claims.Object("card")
	if !present || err != nil {
		t.Fatalf("Object(card) = %v, %v", present, err)
	}
	if v, present, err := card.String("number"); v != "424" || !present || err != nil {
		t.Errorf("String(number) = %q, %v, %v", v, present, err)
	}
	if v, present, err := card.Int("exp_month"); v != 12 || !present || err != nil {
		t.Errorf("Int(exp_month) = %d, %v, %v", v, present, err)
	}
	if _, present, err := card.String("holder_name"); present || err != nil {
		t.Errorf("String of null = %v, %v, want absent", present, err)
	}
	// encoding/json would take "Exp_Year" for exp_year; the vault does not.
	if _, present, _ := card.Int("exp_year"); present {
		t.Error("Int(exp_year) found a member named Exp_Year")
	}
	if _, present, err := claims.Int("n"); !present || err == nil {
		t.Error("Int accepted 1.5")
	}
	if _, present, err := claims.String("s"); !present || err == nil {
		t.Error("String accepted a number")
	}
	if _, present, err := claims.Object("s"); !present || err == nil {
		t.Error("Object accepted a number")
	}
}
