#!/usr/bin/env python3
"""Generates images/src/real_vectors.rs: the calls and expected results of
the real contracts (ed25519, secp256k1, hashes, txdecode, erc20/erc20_c,
amm/amm_c), computed here independently of the contracts' Rust and C code:
signatures by the `cryptography` package (OpenSSL), hashes by `hashlib`,
`pycryptodome` (Keccak-256) and `blake3` (the reference bindings), borsh
encodings and the token and AMM arithmetic written out below with Python's
big integers.

Run: pip install cryptography pycryptodome blake3; python3 images/vectors/gen.py
The output is committed; rerunning gives the same file except for the
ECDSA signatures, whose nonces OpenSSL draws at random.
"""
import hashlib, os, struct, sys
from Crypto.Hash import keccak as _keccak
import blake3 as _blake3
from cryptography.hazmat.primitives.asymmetric import ed25519, ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from cryptography.hazmat.primitives import hashes, serialization

def keccak(b):
    h = _keccak.new(digest_bits=256); h.update(b); return h.digest()

def pattern(n):
    return bytes(i % 251 for i in range(n))

def u32(v): return struct.pack('<I', v)
def u64(v): return struct.pack('<Q', v)
def u128(v): return v.to_bytes(16, 'little')
def acct(b): return bytes([b]) * 32

scenarios = []
def scenario(desc, contracts, steps):
    scenarios.append((desc, contracts, steps))

def ok(method, inp, ret=b'', logs=(), caller=0):
    return (method, caller, inp, ('ok', ret, list(logs)))

def rev(method, inp, msg, caller=0):
    return (method, caller, inp, ('revert', msg))

# ---- ed25519 (RFC 8032 section 7.1 test 1, plus generated ones) ----
steps = []
sk = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(
    '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'))
pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
assert pk.hex() == 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'
sig = sk.sign(b'')
assert sig.hex().startswith('e5564300c360ac72')
steps.append(ok('verify', pk + sig, b'\x01'))
sk2 = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b'nativm ed25519').digest())
pk2 = sk2.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
msg = pattern(1000)
sig2 = sk2.sign(msg)
steps.append(ok('verify', pk2 + sig2 + msg, b'\x01'))
bad = bytearray(sig2); bad[10] ^= 1
steps.append(ok('verify', pk2 + bytes(bad) + msg, b'\x00'))
steps.append(ok('verify', pk2 + sig2 + msg[:-1] + b'\x00', b'\x00'))
steps.append(ok('verify', pk + sig2 + msg, b'\x00'))  # wrong key
steps.append(rev('verify', pk + sig[:10], 'verify: need a 64-byte signature'))
scenario('ed25519-dalek verify', ['ed25519'], steps)

# ---- secp256k1 ----
P = 2**256 - 2**32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)
def add(a, b):
    if a is None: return b
    if b is None: return a
    if a[0] == b[0] and (a[1] + b[1]) % P == 0: return None
    if a == b: l = 3 * a[0] * a[0] * pow(2 * a[1], -1, P) % P
    else: l = (b[1] - a[1]) * pow(b[0] - a[0], -1, P) % P
    x = (l * l - a[0] - b[0]) % P
    return (x, (l * (a[0] - x) - a[1]) % P)
def mul(k, pt):
    r = None
    while k:
        if k & 1: r = add(r, pt)
        pt = add(pt, pt); k >>= 1
    return r
def compress(pt): return bytes([2 + (pt[1] & 1)]) + pt[0].to_bytes(32, 'big')
def recover(z, r, s, v):
    x = r; y2 = (x**3 + 7) % P; y = pow(y2, (P + 1) // 4, P)
    if y & 1 != v & 1: y = P - y
    R = (x, y); rinv = pow(r, -1, N)
    return add(mul(s * rinv % N, R), mul((-z * rinv) % N, G))
steps = []
d = int.from_bytes(hashlib.sha256(b'nativm secp256k1').digest(), 'big') % N
key = ec.derive_private_key(d, ec.SECP256K1())
pub = mul(d, G)
for m in [b'nativm', pattern(300)]:
    z = hashlib.sha256(m).digest()
    r, s = decode_dss_signature(key.sign(z, ec.ECDSA(Prehashed(hashes.SHA256()))))
    if s > N // 2: s = N - s
    sig = r.to_bytes(32, 'big') + s.to_bytes(32, 'big')
    zi = int.from_bytes(z, 'big')
    v = [v for v in (0, 1) if recover(zi, r, s, v) == pub][0]
    steps.append(ok('verify', compress(pub) + sig + z, b'\x01'))
    steps.append(ok('recover', z + sig + bytes([v]), compress(pub)))
    high = r.to_bytes(32, 'big') + (N - s).to_bytes(32, 'big')
    steps.append(ok('verify', compress(pub) + high + z, b'\x00'))  # high s
    zb = bytearray(z); zb[0] ^= 0x80
    steps.append(ok('verify', compress(pub) + sig + bytes(zb), b'\x00'))
    other = mul(d + 1, G)
    steps.append(ok('verify', compress(other) + sig + z, b'\x00'))
    steps.append(ok('recover', bytes(zb) + sig + bytes([v]),
                    compress(recover(int.from_bytes(zb, 'big'), r, s, v))))
steps.append(rev('recover', b'\x00' * 97, 'recover: signature does not decode'))
steps.append(rev('verify', b'\x00' * 10, 'verify: input must be 129 bytes'))
scenario('k256 ECDSA verify and recover', ['secp256k1'], steps)

# ---- hashes and Merkle proofs ----
steps = []
for n in [0, 3, 55, 56, 64, 1023, 1024, 1025, 4096, 8193, 100_000]:
    data = pattern(n)
    steps.append(ok('sha256', ('pattern', n), hashlib.sha256(data).digest()))
    steps.append(ok('keccak256', ('pattern', n), keccak(data)))
    steps.append(ok('blake3', ('pattern', n), _blake3.blake3(data).digest()))
assert keccak(b'').hex() == 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470'
def leaf(b): return keccak(b'\x00' + b)
def node(l, r): return keccak(b'\x01' + l + r)
def proof_input(root, index, sibs, lf):
    return root + u32(index) + bytes([len(sibs)]) + b''.join(sibs) + lf
leaves = [b'leaf %d' % i for i in range(8)]
level = [leaf(x) for x in leaves]; levels = [level]
while len(level) > 1:
    level = [node(level[i], level[i + 1]) for i in range(0, len(level), 2)]; levels.append(level)
root = levels[-1][0]
def proof(i):
    sibs = []
    for lv in levels[:-1]:
        sibs.append(lv[i ^ 1]); i >>= 1
    return sibs
for i in [0, 5, 7]:
    steps.append(ok('merkle_verify', proof_input(root, i, proof(i), leaves[i]), b'\x01'))
steps.append(ok('merkle_verify', proof_input(root, 5, proof(5), leaves[4]), b'\x00'))
steps.append(ok('merkle_verify', proof_input(root, 4, proof(5), leaves[5]), b'\x00'))
steps.append(ok('merkle_verify', proof_input(leaf(b'only'), 0, [], b'only'), b'\x01'))
# A deep proof: 20 levels, pseudo-random siblings.
sibs = [hashlib.sha256(b'sib %d' % i).digest() for i in range(20)]
idx = 0b1011_0110_0101_1100_1010
h = leaf(b'deep leaf')
for lvl, sb in enumerate(sibs):
    h = node(h, sb) if (idx >> lvl) & 1 == 0 else node(sb, h)
steps.append(ok('merkle_verify', proof_input(h, idx, sibs, b'deep leaf'), b'\x01'))
steps.append(rev('merkle_verify', proof_input(root, 8, proof(5), leaves[5]), 'merkle_verify: index out of range'))
steps.append(rev('merkle_verify', root + u32(0) + bytes([3]) + b'\x00' * 64, 'merkle_verify: fewer siblings'))
scenario('sha2, sha3 Keccak-256, blake3 and a Keccak Merkle proof', ['hashes'], steps)

# ---- borsh transaction decoding ----
def bstr(s): return u32(len(s)) + s
def tx(signer, nonce, fee, actions, memo):
    enc = [signer, u64(nonce), u128(fee), u32(len(actions))]
    for a in actions:
        if a[0] == 'transfer': enc += [b'\x00', a[1], u128(a[2])]
        elif a[0] == 'call': enc += [b'\x01', a[1], bstr(a[2]), bstr(a[3]), u128(a[4])]
        else: enc += [b'\x02', a[1], u128(a[2])]
    enc.append(b'\x00' if memo is None else b'\x01' + bstr(memo))
    return b''.join(enc)
def summary(raw, signer, nonce, fee, actions, memo):
    value = 0; methods = []
    for a in actions:
        value += a[4] if a[0] == 'call' else a[2]
        if a[0] == 'call': methods.append(a[2])
    return b''.join([hashlib.sha256(raw).digest(), signer, u64(nonce), u128(fee),
                     u32(len(actions)), u128(value), u32(len(methods))]
                    + [bstr(m) for m in methods] + [u32(0 if memo is None else len(memo))])
steps = []
cases = [
    (acct(0x11), 7, 10**15, [('transfer', acct(0x22), 5 * 10**20),
                             ('call', acct(0x33), b'swap', b'\x01\x02\x03', 10**18),
                             ('stake', acct(0x44), 32 * 10**18),
                             ('call', acct(0x55), b'add_liquidity', pattern(200), 0)],
     'pay the rent \u2713'.encode()),
    (acct(0x66), 0, 0, [], None),
    (acct(0x77), 2**64 - 1, 2**128 - 1, [('transfer', acct(0x88), 2**127)] * 1, b''),
]
for c in cases:
    raw = tx(*c)
    steps.append(ok('decode', raw, summary(raw, *c)))
raw = tx(*cases[0])
steps.append(rev('decode', raw + b'\x00', 'decode: '))
steps.append(rev('decode', raw[:-5], 'decode: '))
badvariant = tx(acct(1), 1, 1, [('transfer', acct(2), 3)], None)
badvariant = badvariant[:32 + 8 + 16 + 4] + b'\x09' + badvariant[32 + 8 + 16 + 5:]
steps.append(rev('decode', badvariant, 'decode: '))
steps.append(rev('decode', tx(acct(1), 1, 1, [('transfer', acct(2), 2**127)] * 2, None), 'decode: value overflow'))
scenario('borsh transaction decoding', ['txdecode'], steps)

# ---- ERC-20 (the same calls on the Rust and the C contract) ----
A, B, C = 0xa1, 0xb2, 0xc3
supply = 10**30
def tr(frm, to, amt): return b'Transfer' + acct(frm) + acct(to) + u128(amt)
steps = [
    ok('total_supply', b'', u128(0)),
    ok('init', u128(supply), b'', [b'Transfer' + bytes(32) + acct(A) + u128(supply)], caller=A),
    rev('init', u128(1), 'erc20: already initialized', caller=B),
    ok('total_supply', b'', u128(supply)),
    ok('transfer', acct(B) + u128(1000), b'\x01', [tr(A, B, 1000)], caller=A),
    rev('transfer', acct(C) + u128(2000), 'erc20: insufficient balance', caller=B),
    ok('approve', acct(C) + u128(500), b'\x01', [b'Approval' + acct(B) + acct(C) + u128(500)], caller=B),
    ok('allowance', acct(B) + acct(C), u128(500)),
    rev('transfer_from', acct(B) + acct(A) + u128(501), 'erc20: insufficient allowance', caller=C),
    ok('transfer_from', acct(B) + acct(C) + u128(300), b'\x01', [tr(B, C, 300)], caller=C),
    ok('allowance', acct(B) + acct(C), u128(200)),
    ok('transfer', acct(C) + u128(100), b'\x01', [tr(C, C, 100)], caller=C),
    ok('balance_of', acct(A), u128(supply - 1000)),
    ok('balance_of', acct(B), u128(700)),
    ok('balance_of', acct(C), u128(300)),
    ok('balance_of', acct(0xee), u128(0)),
    rev('transfer', acct(B), 'erc20: bad input length', caller=A),
    ok('approve', acct(A) + u128(2**128 - 1), b'\x01', [b'Approval' + acct(C) + acct(A) + u128(2**128 - 1)], caller=C),
    ok('transfer_from', acct(C) + acct(B) + u128(300), b'\x01', [tr(C, B, 300)], caller=A),
    ok('allowance', acct(C) + acct(A), u128(2**128 - 1 - 300)),
    ok('balance_of', acct(B), u128(1000)),
    rev('transfer_from', acct(C) + acct(B) + u128(1), 'erc20: insufficient balance', caller=A),
]
scenario('ERC-20 token', ['erc20', 'erc20_c'], steps)

# ---- constant-product AMM ----
MINL = 1000
pool = {'r0': 0, 'r1': 0, 'S': 0}; lp = {}
def isqrt(n):
    x = int(n ** 0.5) if n < 2**100 else 1 << ((n.bit_length() + 1) // 2)
    while True:
        y = (x + n // x) // 2
        if y >= x:
            while x * x > n: x -= 1
            while (x + 1) ** 2 <= n: x += 1
            return x
        x = y
steps = [ok('reserves', b'', u128(0) * 3),
         rev('swap', b'\x00' + u128(10) + u128(0), 'amm: empty pool', caller=C)]
def add_liq(who, a0, a1):
    if pool['S'] == 0:
        root = isqrt(a0 * a1); minted = root - MINL; pool['S'] = root
    else:
        minted = min(a0 * pool['S'] // pool['r0'], a1 * pool['S'] // pool['r1']); pool['S'] += minted
    pool['r0'] += a0; pool['r1'] += a1; lp[who] = lp.get(who, 0) + minted
    steps.append(ok('add_liquidity', u128(a0) + u128(a1) + u128(0), u128(minted),
                    [b'Mint' + acct(who) + u128(a0) + u128(a1) + u128(minted)], caller=who))
def swap(who, d, amt):
    rin, rout = (pool['r0'], pool['r1']) if d == 0 else (pool['r1'], pool['r0'])
    out = amt * 997 * rout // (rin * 1000 + amt * 997)
    steps.append(rev('swap', bytes([d]) + u128(amt) + u128(out + 1), 'amm: insufficient output', caller=who))
    if d == 0: pool['r0'] += amt; pool['r1'] -= out
    else: pool['r1'] += amt; pool['r0'] -= out
    steps.append(ok('swap', bytes([d]) + u128(amt) + u128(out), u128(out),
                    [b'Swap' + acct(who) + bytes([d]) + u128(amt) + u128(out)], caller=who))
def reserves():
    steps.append(ok('reserves', b'', u128(pool['r0']) + u128(pool['r1']) + u128(pool['S'])))
rev_lit = lambda m, i, s, who: steps.append(rev(m, i, s, caller=who))
rev_lit('add_liquidity', u128(1000) + u128(1000) + u128(0), 'amm: insufficient liquidity minted', A)
add_liq(A, 10**18, 4 * 10**18)
add_liq(B, 5 * 10**17, 10**18)
reserves()
swap(C, 0, 10**16)
swap(C, 1, 3 * 10**16)
reserves()
steps.append(ok('shares_of', acct(A), u128(lp[A])))
steps.append(ok('shares_of', acct(B), u128(lp[B])))
sh = lp[B]; a0 = sh * pool['r0'] // pool['S']; a1 = sh * pool['r1'] // pool['S']
steps.append(rev('remove_liquidity', u128(sh) + u128(a0 + 1) + u128(0), 'amm: insufficient output', caller=B))
steps.append(ok('remove_liquidity', u128(sh) + u128(a0) + u128(a1), u128(a0) + u128(a1),
                [b'Burn' + acct(B) + u128(a0) + u128(a1) + u128(sh)], caller=B))
pool['r0'] -= a0; pool['r1'] -= a1; pool['S'] -= sh; lp[B] = 0
steps.append(rev('remove_liquidity', u128(1) + u128(0) + u128(0), 'amm: insufficient shares', caller=B))
steps.append(rev('add_liquidity', u128(2**112) + u128(1) + u128(0), 'amm: reserve overflow', caller=A))
steps.append(rev('swap', b'\x02' + u128(1) + u128(0), 'amm: direction must be 0 or 1', caller=A))
steps.append(rev('swap', b'\x00' + u128(1), 'amm: bad input length', caller=A))
# Large amounts: 256-bit intermediate products.
swap(C, 0, 2**100)
add_liq(B, 3 * 2**100, 2**90 + 12345)
swap(A, 1, 2**105 + 7)
reserves()
scenario('constant-product AMM', ['amm', 'amm_c'], steps)

# ---- output ----
def lit(b): return '"' + b.hex() + '"'
out = ['// @generated by images/vectors/gen.py: do not edit by hand.', '',
       'use super::{Expect, Input, Scenario, Step};', '',
       '/// Every real-contract scenario (see [`Scenario`]).',
       'pub const SCENARIOS: &[Scenario] = &[']
for desc, contracts, steps in scenarios:
    out.append('    Scenario {')
    out.append(f'        what: {desc!r},'.replace("'", '"'))
    out.append('        contracts: &[' + ', '.join(f'"{c}"' for c in contracts) + '],')
    out.append('        steps: &[')
    for method, caller, inp, exp in steps:
        i = f'Input::Pattern({inp[1]})' if isinstance(inp, tuple) else f'Input::Hex({lit(inp)})'
        if exp[0] == 'ok':
            e = f'Expect::Ok {{ ret: {lit(exp[1])}, logs: &[' + ', '.join(lit(l) for l in exp[2]) + '] }'
        else:
            e = f'Expect::Revert({exp[1]!r})'.replace("'", '"')
        out.append(f'            Step {{ method: "{method}", caller: {caller:#04x}, input: {i}, expect: {e} }},')
    out.append('        ],')
    out.append('    },')
out.append('];')
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'src', 'real_vectors.rs')
open(path, 'w').write('\n'.join(out) + '\n')
print('wrote', path, sum(len(s[2]) for s in scenarios), 'steps')
