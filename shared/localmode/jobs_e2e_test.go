package localmode_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/cardvault/vault/shared/audit"
	"github.com/cardvault/vault/shared/internal/vaulttest"
)

// importKey fetches the vault's import key as a provider would.
func importKey(t *testing.T, v *vaulttest.Vault) *openpgp.Entity {
	t.Helper()
	r := v.Do(http.MethodGet, "/v1/import-key", nil, "")
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/pgp-keys" {
		t.Fatalf("import-key: %d %q %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	if strings.Contains(r.Body, "PRIVATE") {
		t.Fatal("import-key serves private key material")
	}
	list, err := openpgp.ReadArmoredKeyRing(strings.NewReader(r.Body))
	if err != nil || len(list) != 1 || list[0].PrivateKey != nil {
		t.Fatalf("import-key is not one armored public key: %v", err)
	}
	return list[0]
}

// pgpFile encrypts a CSV to the vault's key the way gpg --encrypt does.
func pgpFile(t *testing.T, to *openpgp.Entity, csvText string, armored bool) []byte {
	t.Helper()
	var out bytes.Buffer
	var dst io.Writer = &out
	var arm io.WriteCloser
	if armored {
		arm, _ = armor.Encode(&out, "PGP MESSAGE", nil)
		dst = arm
	}
	w, err := openpgp.Encrypt(dst, []*openpgp.Entity{to}, nil, nil, &packet.Config{DefaultCompressionAlgo: packet.CompressionZLIB})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(w, csvText)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if arm != nil {
		_ = arm.Close()
	}
	return out.Bytes()
}

func createImport(t *testing.T, c *vaulttest.Client, merchant string, claims map[string]any) *vaulttest.Response {
	t.Helper()
	return c.Call(t, http.MethodPost, "/v1/merchants/"+merchant+"/imports", "import_cards", merchant, claims)
}

func getJob(t *testing.T, c *vaulttest.Client, merchant, jobID string) *vaulttest.Response {
	t.Helper()
	return c.Call(t, http.MethodGet, "/v1/merchants/"+merchant+"/jobs/"+jobID, "get_job", merchant, map[string]any{"job_id": jobID})
}

func upload(t *testing.T, job map[string]any, body []byte) {
	t.Helper()
	up, _ := job["upload"].(map[string]any)
	if up == nil || up["method"] != "PUT" {
		t.Fatalf("job has no upload: %v", job)
	}
	if _, err := time.Parse(time.RFC3339, up["expires_at"].(string)); err != nil {
		t.Fatalf("upload expires_at: %v", up["expires_at"])
	}
	req, _ := http.NewRequest(http.MethodPut, up["url"].(string), bytes.NewReader(body))
	for k, val := range up["headers"].(map[string]any) {
		req.Header.Set(k, val.(string))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
}

// waitJob polls get_job until the job has ended.
func waitJob(t *testing.T, v *vaulttest.Vault, c *vaulttest.Client, merchant, jobID string) map[string]any {
	t.Helper()
	v.Env.WaitForJobs()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		r := getJob(t, c, merchant, jobID)
		if r.Status != http.StatusOK {
			t.Fatalf("get_job: %d %s", r.Status, r.Body)
		}
		if s := r.JSON["state"]; s == "succeeded" || s == "failed" {
			return r.JSON
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("job did not end")
	return nil
}

func download(t *testing.T, job map[string]any) []byte {
	t.Helper()
	res, _ := job["result"].(map[string]any)
	if res == nil {
		t.Fatalf("job has no result: %v", job)
	}
	resp, err := http.Get(res["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("result: %d", resp.StatusCode)
	}
	return b
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func uploadsLeft(t *testing.T, v *vaulttest.Vault) []string {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(v.Dir, "files", "uploads"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestImportStripeFileEndToEnd(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	year := time.Now().Year() + 3
	// A card the customer already has in the vault: the file's row for it
	// is a duplicate with the existing token.
	before := c.VaultCard(t, "m_imp", map[string]any{"customer_id": "cus_2", "card": testCard("5555555555554444")}, jose.ECDH_ES_A256KW)
	if before.Status != http.StatusCreated {
		t.Fatalf("vault_card: %s", before.Body)
	}
	file := fmt.Sprintf("card_number,card_exp_month,card_exp_year,name,old_customer_id,old_card_id\n"+
		"4242 4242 4242 4242,12,%[1]d,%[2]s,cus_1,card_a\n"+
		"5555555555554444,01,%[1]d,,cus_2,card_b\n"+
		"4242424242424241,12,%[1]d,,cus_3,card_c\n"+
		"4242424242424242,11,%[1]d,,cus_1,card_d\n"+
		"6011111111111117,12,2001,,cus_4,card_e\n"+
		"378282246310005,3,%[1]d,,,card_f\n", year, testHolder)
	created := createImport(t, c, "m_imp", map[string]any{"format": "stripe"})
	if created.Status != http.StatusCreated || created.JSON["state"] != "awaiting_upload" || created.JSON["kind"] != "import" || created.JSON["error"] != nil {
		t.Fatalf("import_cards: %d %s", created.Status, created.Body)
	}
	jobID := created.JSON["job_id"].(string)
	for _, k := range []string{"rows", "vaulted", "duplicates", "rejected"} {
		if created.JSON[k] != float64(0) {
			t.Fatalf("new job %s = %v", k, created.JSON[k])
		}
	}
	upload(t, created.JSON, pgpFile(t, importKey(t, v), file, true))
	job := waitJob(t, v, c, "m_imp", jobID)
	if job["state"] != "succeeded" || job["rows"] != float64(6) || job["vaulted"] != float64(2) || job["duplicates"] != float64(2) || job["rejected"] != float64(2) {
		t.Fatalf("job: %v", job)
	}
	if _, has := job["upload"]; has {
		t.Fatal("an ended import still offers an upload URL")
	}
	rows := readCSV(t, download(t, job))
	if strings.Join(rows[0], ",") != "row,reference,customer_id,status,token,fingerprint,first4,last4,brand,error" || len(rows) != 7 {
		t.Fatalf("result: %v", rows)
	}
	want := []struct{ ref, customer, status, errCode string }{
		{"card_a", "cus_1", "vaulted", ""},
		{"card_b", "cus_2", "duplicate", ""},
		{"card_c", "cus_3", "rejected", "invalid_card"},
		{"card_d", "cus_1", "duplicate", ""},
		{"card_e", "cus_4", "rejected", "invalid_card"},
		{"card_f", "", "vaulted", ""},
	}
	for i, w := range want {
		r := rows[i+1]
		if r[0] != fmt.Sprint(i+1) || r[1] != w.ref || r[2] != w.customer || r[3] != w.status || r[9] != w.errCode {
			t.Fatalf("row %d: %v, want %+v", i+1, r, w)
		}
		if w.status == "rejected" && (r[4] != "" || r[6] != "" || r[7] != "") {
			t.Fatalf("rejected row %d carries card data: %v", i+1, r)
		}
	}
	if rows[2][4] != before.JSON["token"] {
		t.Fatalf("duplicate row token %s, the vault had %s", rows[2][4], before.JSON["token"])
	}
	if rows[4][4] != rows[1][4] {
		t.Fatal("a repeated row did not get the first row's token")
	}
	if rows[1][6] != "4242" || rows[1][7] != "4242" || rows[1][8] != "visa" || !strings.HasPrefix(rows[1][5], "fp_") {
		t.Fatalf("vaulted row: %v", rows[1])
	}
	// Each vaulted row is a card like any other.
	g := c.GetMasked(t, "m_imp", rows[1][4])
	if g.Status != http.StatusOK || g.JSON["customer_id"] != "cus_1" || g.JSON["fingerprint"] != rows[1][5] {
		t.Fatalf("get_masked of an imported card: %s", g.Body)
	}
	// Row 4 updated the expiry of row 1's card, as a duplicate vault_card does.
	if g.JSON["masked"].(map[string]any)["exp_month"] != float64(11) {
		t.Fatalf("duplicate row did not update the card: %s", g.Body)
	}
	if left := uploadsLeft(t, v); len(left) != 0 {
		t.Fatalf("uploaded file kept after the job: %v", left)
	}
	var finished bool
	for _, e := range v.AuditEvents() {
		if e["action"] == "import_finished" && e["job_id"] == jobID && e["records"] == float64(2) {
			finished = true
		}
	}
	if !finished {
		t.Fatal("no import_finished audit event for the job")
	}
	assertNoLeak(t, v)
	for _, name := range []string{"results"} {
		entries, _ := os.ReadDir(filepath.Join(v.Dir, "files", name))
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(v.Dir, "files", name, e.Name()))
			if bytes.Contains(b, []byte("4242424242424242")) || bytes.Contains(b, []byte(testHolder)) {
				t.Fatal("a stored result holds a card number or holder name")
			}
		}
	}
}

func TestImportRefusesCVCColumnsBeforeStoringAnything(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	key := importKey(t, v)
	for _, header := range []string{"cvc", "CVV", "Cvv2", "card_cvc"} {
		t.Run(header, func(t *testing.T) {
			created := createImport(t, c, "m_cvc", nil)
			file := fmt.Sprintf("number,exp_month,exp_year,%s\n4242424242424242,12,%d,123\n", header, time.Now().Year()+2)
			before := v.TableDump()
			jobID := created.JSON["job_id"].(string)
			upload(t, created.JSON, pgpFile(t, key, file, false))
			job := waitJob(t, v, c, "m_cvc", jobID)
			e, _ := job["error"].(map[string]any)
			if job["state"] != "failed" || e["code"] != "cvc_not_accepted" || job["vaulted"] != float64(0) {
				t.Fatalf("job: %v", job)
			}
			if strings.Contains(v.TableDump(), "CARD#") && !strings.Contains(before, "CARD#") {
				t.Fatal("a card was stored from a file with a CVC column")
			}
			if len(uploadsLeft(t, v)) != 0 {
				t.Fatal("failed job kept its upload")
			}
		})
	}
}

func TestImportFailsFilesItCannotUse(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	key := importKey(t, v)
	other, _ := openpgp.NewEntity("someone else", "", "", nil)
	year := time.Now().Year() + 2
	cases := map[string][]byte{
		"plaintext":         []byte("number,exp_month,exp_year\n4242424242424242,12,2030\n"),
		"another key":       pgpFile(t, other, "number,exp_month,exp_year\n", false),
		"missing exp_year":  pgpFile(t, key, "number,exp_month\n4242424242424242,12\n", false),
		"stripe as generic": pgpFile(t, key, fmt.Sprintf("card_number,card_exp_month,card_exp_year\n4242424242424242,12,%d\n", year), false),
		"empty":             pgpFile(t, key, "", false),
	}
	for name, file := range cases {
		t.Run(name, func(t *testing.T) {
			created := createImport(t, c, "m_bad", nil)
			jobID := created.JSON["job_id"].(string)
			upload(t, created.JSON, file)
			job := waitJob(t, v, c, "m_bad", jobID)
			e, _ := job["error"].(map[string]any)
			if job["state"] != "failed" || e["code"] != "invalid_import" {
				t.Fatalf("job: %v", job)
			}
			if _, has := job["result"]; has {
				t.Fatal("a failed job offers a result")
			}
		})
	}
	// A columns override maps the file's own headers.
	created := createImport(t, c, "m_bad", map[string]any{"columns": map[string]any{"number": "PAN", "exp_month": "mm", "exp_year": "yyyy", "customer_id": "client"}})
	jobID := created.JSON["job_id"].(string)
	upload(t, created.JSON, pgpFile(t, key, fmt.Sprintf("PAN,MM,yyyy,client\n4242424242424242,12,%d,cus_9\n", year), false))
	if job := waitJob(t, v, c, "m_bad", jobID); job["state"] != "succeeded" || job["vaulted"] != float64(1) {
		t.Fatalf("columns override: %v", job)
	}
}

func TestJobRequestsAreChecked(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"m_1"})
	other := vaulttest.NewClient("other", jose.ES256, []string{"*"})
	limited := vaulttest.NewClient("limited", jose.ES256, []string{"*"}, "import_cards", "get_job", "vault_card", "reveal_card")
	v := vaulttest.Start(t, c, other, limited)
	for name, claims := range map[string]map[string]any{
		"unknown format":       {"format": "adyen"},
		"format not a string":  {"format": 1},
		"unknown column field": {"columns": map[string]any{"cvc": "cvc"}},
		"column not a string":  {"columns": map[string]any{"number": 5}},
		"token_format other":   {"token_format": "short"},
	} {
		t.Run(name, func(t *testing.T) {
			before := v.TableDump()
			r := createImport(t, c, "m_1", claims)
			if r.Status != http.StatusBadRequest || r.Code() != "malformed_request" {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if v.TableDump() != before {
				t.Fatal("a refused import_cards changed the table")
			}
		})
	}
	if r := createImport(t, c, "m_2", nil); r.Status != http.StatusForbidden {
		t.Fatalf("import for a merchant not allowed: %d", r.Status)
	}
	created := createImport(t, c, "m_1", map[string]any{"token_format": "opaque"})
	jobID, _ := created.JSON["job_id"].(string)
	if created.Status != http.StatusCreated {
		t.Fatalf("import_cards: %s", created.Body)
	}
	// get_job: job_id claim like token; another merchant's job is unknown.
	path := "/v1/merchants/m_1/jobs/" + jobID
	if r := c.Call(t, http.MethodGet, path, "get_job", "m_1", nil); r.Status != http.StatusBadRequest {
		t.Fatalf("get_job without job_id: %d", r.Status)
	}
	if r := c.Call(t, http.MethodGet, path, "get_job", "m_1", map[string]any{"job_id": "job_AAAAAAAAAAAAAAAAAAAAAA"}); r.Status != http.StatusForbidden {
		t.Fatalf("get_job with another job_id: %d", r.Status)
	}
	if r := getJob(t, other, "m_2", jobID); r.Status != http.StatusNotFound {
		t.Fatalf("another merchant's job: %d %s", r.Status, r.Body)
	}
	if r := getJob(t, c, "m_1", "job_AAAAAAAAAAAAAAAAAAAAAA"); r.Status != http.StatusNotFound {
		t.Fatalf("unknown job: %d", r.Status)
	}
	// get_job issues a fresh upload URL each time.
	v.Advance(2 * time.Second)
	g := getJob(t, c, "m_1", jobID)
	if g.Status != http.StatusOK || g.JSON["state"] != "awaiting_upload" || g.JSON["upload"].(map[string]any)["url"] == created.JSON["upload"].(map[string]any)["url"] {
		t.Fatalf("get_job: %s", g.Body)
	}
	// export_cards is its own permission: no other op implies it.
	r := limited.PostJOSE(http.MethodPost, "/v1/merchants/m_1/exports",
		limited.Encrypt(t, limited.Sign(t, limited.Claims("export_cards", "m_1", map[string]any{"recipient_key": "x"})), jose.ECDH_ES_A256KW))
	if r.Status != http.StatusForbidden {
		t.Fatalf("export_cards without the permission: %d %s", r.Status, r.Body)
	}
	// A bearer export is refused: its body is a JWE.
	if r := c.Call(t, http.MethodPost, "/v1/merchants/m_1/exports", "export_cards", "m_1", nil); r.Status != http.StatusUnsupportedMediaType {
		t.Fatalf("bearer export: %d", r.Status)
	}
	// Upload URLs are signed: a changed one is refused.
	up := created.JSON["upload"].(map[string]any)["url"].(string)
	req, _ := http.NewRequest(http.MethodPut, strings.Replace(up, "signature=", "signature=x", 1), strings.NewReader("x"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered upload URL: %d", resp.StatusCode)
	}
	v.Advance(16 * time.Minute)
	req, _ = http.NewRequest(http.MethodPut, up, strings.NewReader("x"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("expired upload URL: %d", resp.StatusCode)
	}
}

func providerKey(t *testing.T) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity("provider", "", "", &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	_ = e.Serialize(w)
	_ = w.Close()
	return e, buf.String()
}

func createExport(t *testing.T, c *vaulttest.Client, merchant string, claims map[string]any) *vaulttest.Response {
	t.Helper()
	return c.PostJOSE(http.MethodPost, "/v1/merchants/"+merchant+"/exports",
		c.Encrypt(t, c.Sign(t, c.Claims("export_cards", merchant, claims)), jose.ECDH_ES_A256KW))
}

func TestExportIsEncryptedToTheRecipientAndSigned(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	tokens := map[string]string{}
	for i, n := range []string{"4242424242424242", "5555555555554444", "378282246310005"} {
		customer := fmt.Sprintf("cus_%d", i)
		r := c.VaultCard(t, "m_exp", map[string]any{"customer_id": customer, "card": testCard(n)}, jose.ECDH_ES_A256KW)
		tokens[r.JSON["token"].(string)] = n
	}
	c.VaultCard(t, "m_elsewhere", map[string]any{"card": testCard("6011111111111117")}, jose.ECDH_ES_A256KW)
	deleted := c.VaultCard(t, "m_exp", map[string]any{"customer_id": "cus_gone", "card": testCard("4000056655665556")}, jose.ECDH_ES_A256KW)
	c.Call(t, http.MethodDelete, "/v1/cards/"+deleted.JSON["token"].(string), "delete_card", "m_exp", map[string]any{"token": deleted.JSON["token"]})

	provider, public := providerKey(t)
	vaultKey := importKey(t, v)
	created := createExport(t, c, "m_exp", map[string]any{"recipient_key": public})
	if created.Status != http.StatusCreated || created.JSON["kind"] != "export" {
		t.Fatalf("export_cards: %d %s", created.Status, created.Body)
	}
	job := waitJob(t, v, c, "m_exp", created.JSON["job_id"].(string))
	if job["state"] != "succeeded" || job["rows"] != float64(3) {
		t.Fatalf("export job: %v", job)
	}
	file := download(t, job)
	if bytes.HasPrefix(file, []byte("-----BEGIN")) || bytes.Contains(file, []byte("4242424242424242")) {
		t.Fatal("export is not a binary OpenPGP message")
	}
	md, err := openpgp.ReadMessage(bytes.NewReader(file), openpgp.EntityList{provider, vaultKey}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		t.Fatal(err)
	}
	if !md.IsSigned || md.SignatureError != nil || md.SignedBy == nil || md.SignedBy.PublicKey.KeyId != vaultKey.PrimaryKey.KeyId {
		t.Fatalf("export not signed by the import key: %v", md.SignatureError)
	}
	rows := readCSV(t, plain)
	if strings.Join(rows[0], ",") != "token,customer_id,number,exp_month,exp_year,holder_name" || len(rows) != 4 {
		t.Fatalf("export: %d rows, header %v", len(rows), rows[0])
	}
	year := fmt.Sprint(time.Now().Year() + 3)
	for _, r := range rows[1:] {
		if tokens[r[0]] != r[2] || r[3] != "12" || r[4] != year || r[5] != testHolder || !strings.HasPrefix(r[1], "cus_") {
			t.Fatalf("export row %v", r)
		}
	}
	// customer_ids picks the cards.
	only := createExport(t, c, "m_exp", map[string]any{"recipient_key": public, "customer_ids": []string{"cus_1"}})
	if job := waitJob(t, v, c, "m_exp", only.JSON["job_id"].(string)); job["rows"] != float64(1) {
		t.Fatalf("customer_ids export: %v", job)
	}
	var exported bool
	for _, e := range v.AuditEvents() {
		if e["action"] == "export_finished" && e["job_id"] == created.JSON["job_id"] && e["records"] == float64(3) {
			exported = true
		}
	}
	if !exported {
		t.Fatal("no export_finished audit event with the count")
	}
	assertNoLeak(t, v)
}

func TestExportRefusesUnfitRecipientKeys(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	weak, err := openpgp.NewEntity("weak", "", "", &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	_ = weak.Serialize(w)
	_ = w.Close()
	for name, key := range map[string]any{"RSA 1024": buf.String(), "not a key": "hello", "not a string": 5} {
		t.Run(name, func(t *testing.T) {
			before := v.TableDump()
			r := createExport(t, c, "m_x", map[string]any{"recipient_key": key})
			if r.Status != http.StatusUnprocessableEntity && r.Status != http.StatusBadRequest {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if name == "RSA 1024" && r.Code() != "invalid_import" {
				t.Fatalf("weak key: %s", r.Body)
			}
			if v.TableDump() != before {
				t.Fatal("a refused export changed the table")
			}
		})
	}
}

func TestImportAndExportFailClosedWithoutAnAuditTrail(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	var broken atomic.Bool
	v := vaulttest.StartWith(t, vaulttest.Options{WrapAudit: func(s audit.Sink) audit.Sink {
		return auditFunc(func(ctx context.Context, e audit.Event) error {
			if broken.Load() {
				return errors.New("audit bus down")
			}
			return s.Record(ctx, e)
		})
	}}, c)
	_, public := providerKey(t)
	jobsBefore := strings.Count(v.TableDump(), "JOB#")
	broken.Store(true)
	if r := createImport(t, c, "m_fc", nil); r.Status != http.StatusServiceUnavailable || r.Code() != "unavailable" {
		t.Fatalf("import_cards without audit: %d %s", r.Status, r.Body)
	}
	if r := createExport(t, c, "m_fc", map[string]any{"recipient_key": public}); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("export_cards without audit: %d %s", r.Status, r.Body)
	}
	broken.Store(false)
	v.Env.WaitForJobs()
	// The event is recorded before the job is made: no job exists, so no
	// card moves in or out unaudited.
	if n := strings.Count(v.TableDump(), "JOB#"); n != jobsBefore {
		t.Fatalf("a job was stored although its request's audit event was not: %d JOB# entries, %d before", n, jobsBefore)
	}
}

// TestImportMakesCardShapedTokensWhenAsked: token_format "card" gives the
// imported cards tokens as vault_card makes them (the number's length,
// first 4 and last 4, never Luhn-valid); a card the merchant already had
// keeps its token.
func TestImportMakesCardShapedTokensWhenAsked(t *testing.T) {
	c := vaulttest.NewClient("app", jose.ES256, []string{"*"})
	v := vaulttest.Start(t, c)
	year := time.Now().Year() + 3
	before := c.VaultCard(t, "m_ct", map[string]any{"customer_id": "cus_2", "card": testCard("5555555555554444")}, jose.ECDH_ES_A256KW)
	if before.Status != http.StatusCreated {
		t.Fatalf("vault_card: %s", before.Body)
	}
	file := fmt.Sprintf("number,exp_month,exp_year,customer_id,reference\n"+
		"4242424242424242,12,%[1]d,cus_1,a\n"+
		"5555555555554444,01,%[1]d,cus_2,b\n"+
		"378282246310005,03,%[1]d,cus_3,c\n", year)
	created := createImport(t, c, "m_ct", map[string]any{"token_format": "card"})
	if created.Status != http.StatusCreated {
		t.Fatalf("import_cards with card tokens: %d %s", created.Status, created.Body)
	}
	upload(t, created.JSON, pgpFile(t, importKey(t, v), file, false))
	job := waitJob(t, v, c, "m_ct", created.JSON["job_id"].(string))
	if job["state"] != "succeeded" || job["vaulted"] != float64(2) || job["duplicates"] != float64(1) {
		t.Fatalf("job: %v", job)
	}
	rows := readCSV(t, download(t, job))
	for i, number := range []string{"4242424242424242", "", "378282246310005"} {
		tok := rows[i+1][4]
		if number == "" {
			if tok != before.JSON["token"] {
				t.Fatalf("the duplicate's token %s, the vault had %s", tok, before.JSON["token"])
			}
			continue
		}
		if len(tok) != len(number) || tok[:4] != number[:4] || tok[len(tok)-4:] != number[len(number)-4:] || tok == number || luhnValid(tok) {
			t.Fatalf("row %d token %q is not card-shaped for its number", i+1, tok)
		}
		if g := c.GetMasked(t, "m_ct", tok); g.Status != http.StatusOK {
			t.Fatalf("get_masked of a card-shaped imported token: %s", g.Body)
		}
	}
	assertNoLeak(t, v)
}

func luhnValid(digits string) bool {
	sum := 0
	for i := range len(digits) {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

type auditFunc func(context.Context, audit.Event) error

func (f auditFunc) Record(ctx context.Context, e audit.Event) error { return f(ctx, e) }
