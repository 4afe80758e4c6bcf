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
	// encoding/json would take "Exp_Year" for exp_year; the vault refuses
	// it rather than take it.
	if _, _, err := card.Int("exp_year"); err != errCaseVariant {
		t.Errorf("Int(exp_year) of a member named Exp_Year: %v", err)
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

// A member whose name differs from the one read only in case is refused,
// whatever the type read, and whether the claim is required or optional:
// encoding/json would have taken it for the claim, so a client sending it
// means something the vault must not silently drop.
func TestCaseVariantsAreRefusedNotMatched(t *testing.T) {
	members, err := parseStrictObject([]byte(`{"VALUE":"v","Customer_ID":"c","TTL_Seconds":60,"Metadata":{"k":"v"},"Card":{},"to\u212aen":"t","exp_month":1}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := Object{members: members}
	reads := map[string]func() (bool, error){
		"value":                     func() (bool, error) { _, p, err := o.String("value"); return p, err },
		"customer_id":               func() (bool, error) { _, p, err := o.String("customer_id"); return p, err },
		"ttl_seconds":               func() (bool, error) { _, p, err := o.Int("ttl_seconds"); return p, err },
		"metadata":                  func() (bool, error) { _, p, err := o.StringMap("metadata"); return p, err },
		"card":                      func() (bool, error) { _, p, err := o.Object("card"); return p, err },
		"token (Kelvin sign for k)": func() (bool, error) { _, p, err := o.String("token"); return p, err },
		"EXP_MONTH":                 func() (bool, error) { _, p, err := o.Int("EXP_MONTH"); return p, err },
	}
	for name, read := range reads {
		if present, err := read(); !present || err != errCaseVariant {
			t.Errorf("%s: present %v, err %v; want the case variant refused", name, present, err)
		}
	}
	if v, present, err := o.Int("exp_month"); v != 1 || !present || err != nil {
		t.Errorf("exact name: %d, %v, %v", v, present, err)
	}
	if _, present, err := o.String("holder_name"); present || err != nil {
		t.Errorf("absent member: %v, %v", present, err)
	}
}

func TestStringMap(t *testing.T) {
	members, err := parseStrictObject([]byte(`{"m":{"a":"1","b":"2"},"e":{},"bad":{"a":1},"null":{"a":null},"s":"x"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := Object{members: members}
	if m, present, err := o.StringMap("m"); !present || err != nil || len(m) != 2 || m["a"] != "1" || m["b"] != "2" {
		t.Errorf("StringMap(m) = %v, %v, %v", m, present, err)
	}
	if m, present, err := o.StringMap("e"); !present || err != nil || m == nil || len(m) != 0 {
		t.Errorf("StringMap(e) = %v, %v, %v", m, present, err)
	}
	for _, name := range []string{"bad", "null", "s"} {
		if _, present, err := o.StringMap(name); !present || err == nil {
			t.Errorf("StringMap(%s) accepted: %v, %v", name, present, err)
		}
	}
	if _, present, err := o.StringMap("absent"); present || err != nil {
		t.Errorf("StringMap(absent) = %v, %v", present, err)
	}
}
