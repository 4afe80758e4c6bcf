package stripemock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/cardvault/vault/shared/forward"
	"github.com/cardvault/vault/shared/wire"
)

// Register puts entry (a destination whose id is id) into the
// destinations file, replacing an entry of the same id, and adds id to
// the destinations of the registry's client clientID. Both documents are
// checked as the vault checks them before either is replaced, and each is
// replaced by a rename, so a running vault never reads half a file; it
// follows both edits without a restart.
func Register(destinationsFile, clientsFile, clientID, id string, entry json.RawMessage) error {
	var dests struct {
		Destinations []json.RawMessage `json:"destinations"`
	}
	if doc, err := os.ReadFile(destinationsFile); err == nil { // #nosec G304 -- the operator's local file
		if err := json.Unmarshal(doc, &dests); err != nil {
			return fmt.Errorf("%s: %w", destinationsFile, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	kept := []json.RawMessage{}
	for _, d := range dests.Destinations {
		var head struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(d, &head) == nil && head.ID == id {
			continue
		}
		kept = append(kept, d)
	}
	dests.Destinations = append(kept, entry)
	destDoc, err := json.MarshalIndent(dests, "", "  ")
	if err != nil {
		return err
	}
	parsed, err := forward.ParseDestinations(destDoc)
	if err != nil {
		return err
	}

	rawClients, err := os.ReadFile(clientsFile) // #nosec G304 -- the operator's local file
	if err != nil {
		return fmt.Errorf("the client registry (%w): start the local vault first (make run)", err)
	}
	var reg map[string]json.RawMessage
	if err := json.Unmarshal(rawClients, &reg); err != nil {
		return fmt.Errorf("%s: %w", clientsFile, err)
	}
	var clients []map[string]json.RawMessage
	if err := json.Unmarshal(reg["clients"], &clients); err != nil {
		return fmt.Errorf("%s: %w", clientsFile, err)
	}
	found := false
	for _, c := range clients {
		var cid string
		if json.Unmarshal(c["id"], &cid) != nil || cid != clientID {
			continue
		}
		found = true
		var list []string
		if raw, ok := c["destinations"]; ok {
			if err := json.Unmarshal(raw, &list); err != nil {
				return fmt.Errorf("%s: client %q: destinations: %w", clientsFile, clientID, err)
			}
		}
		if !slices.Contains(list, id) {
			list = append(list, id)
		}
		c["destinations"], _ = json.Marshal(list)
	}
	if !found {
		return fmt.Errorf("%s has no client %q", clientsFile, clientID)
	}
	reg["clients"], _ = json.Marshal(clients)
	clientsDoc, err := json.MarshalIndent(reg, "", "  ")
	if err != nil {
		return err
	}
	registry, err := wire.ParseRegistry(clientsDoc)
	if err != nil {
		return err
	}
	if err := forward.CheckRegistry(registry, parsed); err != nil {
		return err
	}
	// Destinations first: a client never names an id the file lacks.
	if err := replace(destinationsFile, destDoc); err != nil {
		return err
	}
	return replace(clientsFile, clientsDoc)
}

func replace(path string, doc []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(doc, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
