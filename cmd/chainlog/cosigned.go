package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"chainlog"
	"chainlog/witness"

	"golang.org/x/mod/sumdb/note"
)

// cosignedFlags are --witness-key and --quorum: the witness cosignatures a
// checkpoint must carry to be accepted. Without --witness-key, none.
type cosignedFlags struct {
	keys      multiFlag
	quorum    int
	verifiers []note.Verifier
}

func (c *cosignedFlags) register(fs *flag.FlagSet) {
	fs.Var(&c.keys, "witness-key", "require cosignatures by this witness's verifier `key` (as litewitness prints it, or a file holding it); repeatable")
	fs.IntVar(&c.quorum, "quorum", 0, "with --witness-key: how many of the witnesses must have cosigned each checkpoint (default: all given)")
}

// load parses the keys; it is a usage error to give --quorum without
// them, or more than there are.
func (c *cosignedFlags) load() error {
	if len(c.keys) == 0 {
		if c.quorum != 0 {
			return errors.New("--quorum needs --witness-key")
		}
		return nil
	}
	for _, k := range c.keys {
		text := k
		if b, err := os.ReadFile(k); err == nil {
			text = strings.TrimSpace(string(b))
		}
		v, err := witness.NewVerifier(text)
		if err != nil {
			return fmt.Errorf("--witness-key: %w", err)
		}
		c.verifiers = append(c.verifiers, v)
	}
	if c.quorum < 0 || c.quorum > len(c.verifiers) {
		return fmt.Errorf("--quorum %d: want 1 to %d, the number of --witness-key given", c.quorum, len(c.verifiers))
	}
	return nil
}

// check refuses signed unless a quorum of the witnesses cosigned it; nil
// without --witness-key.
func (c *cosignedFlags) check(signed []byte) error {
	if len(c.verifiers) == 0 {
		return nil
	}
	return chainlog.CheckCosignatures(signed, c.quorum, c.verifiers)
}
