// Package dynalite is the test side of the dynalite runner: one shared
// in-memory dynalite per test binary (ForTest), stopped when the tests end
// (Main). The runner itself is the product package shared/dynalite, which
// local mode uses; Start, Server and EnvCLI are repeated here so that a
// test needs one import.
package dynalite
