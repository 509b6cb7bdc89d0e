// Package kostest holds the behaviour test of the KOS client (shared/kos)
// against the real KOS-Mock (functions/kosmock) started in-process on a free
// port with its own database: the two must agree on envelopes, result codes,
// headers and the forced patterns, so neither is tested against answers
// written by hand. It lives in the functions module because the shared
// module cannot import a function package.
package kostest
