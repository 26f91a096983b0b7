//! xoshiro256++ (Blackman & Vigna, `xoshiro256plusplus.c`), with SplitMix64 seeding and the
//! published `jump` / `long_jump` polynomials, written here so that the kernel can hold the state
//! of its [`LANES`] generators lane-parallel ([`Lanes`]) and step them in SIMD registers.
//!
//! Every function is the reference C code transcribed; the tests check the outputs, bit for bit,
//! against the `rand_xoshiro` crate (the previous generator) and an independent transcription.

use super::LANES;

/// SplitMix64's increment (the golden-ratio constant of `splitmix64.c`).
const SPLITMIX_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The `jump` polynomial of `xoshiro256plusplus.c`: 2¹²⁸ steps.
const JUMP: [u64; 4] = [
    0x180e_c6d3_3cfd_0aba,
    0xd5a6_1266_f0c9_392c,
    0xa958_2618_e03f_c9aa,
    0x39ab_dc45_29b1_661c,
];

/// The `long_jump` polynomial of `xoshiro256plusplus.c`: 2¹⁹² steps.
const LONG_JUMP: [u64; 4] = [
    0x76e1_5d3e_fefd_cbbf,
    0xc500_4e44_1c52_2fb3,
    0x7771_0069_854e_e241,
    0x3910_9bb0_2acb_e635,
];

/// One xoshiro256++ generator (scalar): seeding, jumps, and the reference stepping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xoshiro256pp {
    s: [u64; 4],
}

impl Xoshiro256pp {
    /// The generator whose four state words are the first four outputs of SplitMix64 started at
    /// `seed` (`splitmix64.c`; what `rand_xoshiro`'s `seed_from_u64` does). The state is never all
    /// zero: SplitMix64's output function is a bijection and its four inputs are distinct.
    pub fn seed_from_u64(seed: u64) -> Self {
        let mut x = seed;
        let s = std::array::from_fn(|_| {
            x = x.wrapping_add(SPLITMIX_GAMMA);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        });
        Xoshiro256pp { s }
    }

    /// The next output (`next()` of `xoshiro256plusplus.c`).
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Advances by 2¹²⁸ steps (`jump()` of `xoshiro256plusplus.c`).
    pub fn jump(&mut self) {
        self.apply(&JUMP);
    }

    /// Advances by 2¹⁹² steps (`long_jump()` of `xoshiro256plusplus.c`).
    pub fn long_jump(&mut self) {
        self.apply(&LONG_JUMP);
    }

    /// The state after the jump polynomial `poly`: the XOR of the states `i` steps ahead for every
    /// set bit `i` of `poly` (branch-free, as the C code's `if` is on public constants anyway).
    fn apply(&mut self, poly: &[u64; 4]) {
        let mut acc = [0u64; 4];
        for &word in poly {
            for b in 0..64 {
                let take = 0u64.wrapping_sub((word >> b) & 1);
                for (a, s) in acc.iter_mut().zip(self.s) {
                    *a ^= s & take;
                }
                self.next_u64();
            }
        }
        self.s = acc;
    }
}

/// `N` generators stored lane-parallel (by default the [`LANES`] of a block): `s[w][j]` is state
/// word `w` of lane `j`, so one step of all lanes is a handful of whole-vector shifts, XORs and
/// adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lanes<const N: usize = LANES> {
    pub(crate) s: [[u64; N]; 4],
}

impl Lanes {
    /// Lane `j` = `first` advanced by `j` jumps; lanes from `used` on are left as copies of the
    /// last jumped one (a block of fewer than [`LANES`] samples never draws from them).
    pub(crate) fn jumped(first: &Xoshiro256pp, used: usize) -> Self {
        let mut g = first.clone();
        let mut s = [[0u64; LANES]; 4];
        for j in 0..LANES {
            for (w, word) in s.iter_mut().enumerate() {
                word[j] = g.s[w];
            }
            if j + 1 < used {
                g.jump();
            }
        }
        Lanes { s }
    }

    /// Lanes `o..o + N` of these (`o + N <= LANES`).
    pub(crate) fn group<const N: usize>(&self, o: usize) -> Lanes<N> {
        Lanes {
            s: std::array::from_fn(|w| std::array::from_fn(|j| self.s[w][o + j])),
        }
    }
}

impl<const N: usize> Lanes<N> {
    /// The next output of every lane: `xoshiro256plusplus.c`'s `next()`, lane by lane.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> [u64; N] {
        let [s0, s1, s2, s3] = &mut self.s;
        let mut out = [0u64; N];
        for j in 0..N {
            out[j] = s0[j].wrapping_add(s3[j]).rotate_left(23).wrapping_add(s0[j]);
            let t = s1[j] << 17;
            s2[j] ^= s0[j];
            s3[j] ^= s1[j];
            s1[j] ^= s2[j];
            s0[j] ^= s3[j];
            s2[j] ^= t;
            s3[j] = s3[j].rotate_left(45);
        }
        out
    }
}
