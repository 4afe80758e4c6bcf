package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	vaultapp "github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/localmode"
	"github.com/cardvault/vault/shared/pgpfile"
)

func TestImportKeyGenerateAndRotate(t *testing.T) {
	dir := t.TempDir()
	ring, pub := filepath.Join(dir, "ring.asc"), filepath.Join(dir, "pub.asc")
	if code, _, stderr := runCLI(t, "", nil, "import-key", "generate", "--out", ring, "--public-out", pub); code != exitOK {
		t.Fatalf("generate: %d %s", code, stderr)
	}
	if info, _ := os.Stat(ring); info.Mode().Perm() != 0o600 {
		t.Fatalf("ring mode %v", info.Mode().Perm())
	}
	first, _ := os.ReadFile(pub)
	if err := pgpfile.CheckPublicKey(first); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCLI(t, "", nil, "import-key", "generate", "--out", ring, "--public-out", pub); code == exitOK {
		t.Fatal("generate overwrote an existing ring")
	}
	if code, stdout, stderr := runCLI(t, "", nil, "import-key", "rotate", "--file", ring, "--public-out", pub); code != exitOK || !strings.Contains(stdout, "2 key(s)") {
		t.Fatalf("rotate: %d %s %s", code, stdout, stderr)
	}
	second, _ := os.ReadFile(pub)
	if bytes.Equal(first, second) {
		t.Fatal("rotate kept publishing the old key")
	}
	doc, _ := os.ReadFile(ring)
	if r, err := pgpfile.ParseKeyRing(doc, nil); err != nil || r.Keys() != 2 {
		t.Fatalf("rotated ring: %v", err)
	}
}

// localVault serves a local-mode vault (its own dynalite) for the CLI.
func localVaultServer(t *testing.T) (url string, env map[string]string) {
	t.Helper()
	dir := t.TempDir()
	e, err := localmode.Start(context.Background(), localmode.Settings{Dir: dir}, vaultapp.NewLogger())
	if err != nil {
		t.Fatalf("local vault: %v", err)
	}
	t.Cleanup(e.Close)
	api, err := e.API(vaultapp.Functions...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler(api))
	t.Cleanup(srv.Close)
	e.SetFilesBaseURL(srv.URL)
	return srv.URL, map[string]string{"VAULT_URL": srv.URL, "VAULT_LOCAL_DIR": dir}
}

func TestImportAndExportRoundTripThroughTheCLI(t *testing.T) {
	_, env := localVaultServer(t)
	dir := t.TempDir()
	code, key, stderr := runCLI(t, "", env, "import-key")
	if code != exitOK {
		t.Fatalf("import-key: %s", stderr)
	}
	list, err := openpgp.ReadArmoredKeyRing(strings.NewReader(key))
	if err != nil {
		t.Fatal(err)
	}
	year := time.Now().Year() + 2
	csvText := fmt.Sprintf("card_number,card_exp_month,card_exp_year,name,old_customer_id,old_card_id\n"+
		"4242424242424242,7,%d,Ada Lovelace,cus_1,card_1\n5555555555554444,8,%d,,cus_2,card_2\n", year, year)
	var enc bytes.Buffer
	w, _ := openpgp.Encrypt(&enc, list, nil, nil, nil)
	_, _ = io.WriteString(w, csvText)
	_ = w.Close()
	file := filepath.Join(dir, "cards.csv.gpg")
	_ = os.WriteFile(file, enc.Bytes(), 0o600)

	code, stdout, stderr := runCLI(t, "", env, "import", "start", "--merchant", "m_cli", "--format", "stripe", "--rows", "2", "--watch", file)
	if code != exitOK || !strings.Contains(stderr, "rows/s") || !strings.Contains(stdout, `"succeeded"`) {
		t.Fatalf("import start: %d\n%s\n%s", code, stdout, stderr)
	}
	jobID := between(stdout, `"job_id": "`, `"`)
	mapFile := filepath.Join(dir, "map.csv")
	if code, _, stderr := runCLI(t, "", env, "job", "result", "--merchant", "m_cli", "-o", mapFile, jobID); code != exitOK {
		t.Fatalf("job result: %s", stderr)
	}
	raw, _ := os.ReadFile(mapFile)
	rows, _ := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if len(rows) != 3 || rows[1][3] != "vaulted" || rows[2][3] != "vaulted" || rows[1][1] != "card_1" {
		t.Fatalf("mapping: %v", rows)
	}
	if code, stdout, _ := runCLI(t, "", env, "job", "status", "--merchant", "m_cli", jobID); code != exitOK || !strings.Contains(stdout, `"vaulted": 2`) {
		t.Fatalf("job status: %s", stdout)
	}

	provider, _ := openpgp.NewEntity("provider", "", "", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	var pub bytes.Buffer
	aw, _ := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	_ = provider.Serialize(aw)
	_ = aw.Close()
	keyFile := filepath.Join(dir, "provider.asc")
	_ = os.WriteFile(keyFile, pub.Bytes(), 0o600)
	out := filepath.Join(dir, "export.csv.gpg")
	if code, _, stderr := runCLI(t, "", env, "export", "--merchant", "m_cli", "--recipient-key", keyFile, "-o", out); code != exitOK {
		t.Fatalf("export: %s", stderr)
	}
	exported, _ := os.ReadFile(out)
	md, err := openpgp.ReadMessage(bytes.NewReader(exported), append(openpgp.EntityList{provider}, list...), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(md.UnverifiedBody)
	if md.SignatureError != nil || !md.IsSigned {
		t.Fatalf("export signature: %v", md.SignatureError)
	}
	got, _ := csv.NewReader(bytes.NewReader(plain)).ReadAll()
	if len(got) != 3 || !strings.Contains(string(plain), "4242424242424242") || !strings.Contains(string(plain), "Ada Lovelace") {
		t.Fatalf("export: %d rows", len(got))
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	return s[:strings.Index(s, to)]
}
