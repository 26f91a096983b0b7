use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;
use crate::engine::{Ctx, Threads};
use crate::kernels::test_support::{ctx, settings};

fn window(xmin: f64, xmax: f64, ymin: f64, ymax: f64) -> Window {
    Window {
        xmin,
        xmax,
        ymin,
        ymax,
    }
}

/// The module docs' loop, one pixel at a time, written out independently of the lanes.
fn reference(width: usize, height: usize, max_iter: u32, w: Window) -> Vec<u16> {
    let dx = (w.xmax - w.xmin) / width as f64;
    let dy = (w.ymax - w.ymin) / height as f64;
    let mut out = Vec::with_capacity(width * height);
    for i in 0..height {
        let ci = w.ymin + i as f64 * dy;
        for j in 0..width {
            let cr = w.xmin + j as f64 * dx;
            let (mut zr, mut zi) = (0.0f64, 0.0f64);
            let mut n = 0;
            while n < max_iter {
                let zr2 = zr * zr;
                let zi2 = zi * zi;
                if zr2 + zi2 > 4.0 {
                    break;
                }
                zi = 2.0 * zr * zi + ci;
                zr = zr2 - zi2 + cr;
                n += 1;
            }
            out.push(n as u16);
        }
    }
    out
}

/// Every path this CPU and compiler support, plus the portable path pinned to the baseline build
/// (`None`).
fn paths() -> Vec<Option<Path>> {
    let mut v = vec![None, Some(Path::Portable)];
    for p in [Path::Avx2, Path::Avx512] {
        if p.supported() {
            v.push(Some(p));
        }
    }
    eprintln!("fractal paths tested: {v:?}");
    v
}

fn render_on(path: Option<Path>, width: u64, height: u64, max_iter: u64, w: Window) -> Vec<u16> {
    let c = ctx(Threads::Pool);
    match path {
        None => simd::with_baseline(|| mandelbrot_on(&c, width, height, max_iter, w, Path::Portable)),
        Some(p) => mandelbrot_on(&c, width, height, max_iter, w, p),
    }
    .unwrap()
}

/// Windows and sizes that hit block and task edges, escaped lanes overflowing to inf/NaN,
/// subnormal points, and the boundary `|z|² = 4`.
fn cases() -> Vec<(u64, u64, u64, Window)> {
    vec![
        (1, 1, 256, Window::default()),
        (1, 37, 100, Window::default()),
        (37, 1, 100, Window::default()),
        (5, 3, 1, Window::default()),
        (61, 43, 300, Window::default()),
        (97, 50, 1000, window(-0.75, -0.73, 0.10, 0.12)),
        (64, 64, 200, window(-1.5, 0.5, -1.0, 1.0)),
        (33, 17, 50, window(-1e300, 1e300, -1e300, 1e300)),
        (9, 7, 64, window(-1e-310, 1e-310, -1e-310, 1e-310)),
        (4, 4, 999, window(-2.0, 2.0, -2.0, 2.0)),
        (4, 1, 77, window(-2.0, 6.0, 0.0, 1.0)),
        (200, 3, 5000, window(-0.7436, -0.7435, 0.1318, 0.1319)),
    ]
}

#[test]
fn every_path_matches_the_reference() {
    for (w, h, m, win) in cases() {
        let expected = reference(w as usize, h as usize, m as u32, win);
        for p in paths() {
            assert_eq!(
                render_on(p, w, h, m, win),
                expected,
                "{p:?} {w}x{h} max_iter={m} {win:?}"
            );
        }
    }
}

#[test]
fn every_path_agrees_on_a_large_image() {
    // Several tasks, long and short rows, and the default entry point.
    let (w, h, m) = (333, 250, 512);
    let expected = reference(w, h, m, Window::default());
    let best = mandelbrot(
        &ctx(Threads::Pool),
        w as u64,
        h as u64,
        u64::from(m),
        Window::default(),
    )
    .unwrap();
    assert_eq!(best, expected);
    for p in paths() {
        assert_eq!(
            render_on(p, w as u64, h as u64, u64::from(m), Window::default()),
            expected,
            "{p:?}"
        );
    }
}

#[test]
fn max_iter_65535_on_every_path() {
    let win = window(-2.0, 2.0, -2.0, 2.0);
    let expected = reference(4, 4, 65535, win);
    // Row 2 is ci = 0: c = -2 and c = 0 are in the set, c = 1 escapes at z_3 = 5.
    assert_eq!(&expected[8..12], &[65535, 65535, 65535, 3]);
    for p in paths() {
        assert_eq!(render_on(p, 4, 4, 65535, win), expected, "{p:?}");
    }
}

#[test]
fn known_values() {
    let c = ctx(Threads::Caller);
    // dx = dy = 1 on [-2, 2]²: pixel (i, j) is c = (j - 2) + (i - 2)i.
    let img = mandelbrot(&c, 4, 4, 100, window(-2.0, 2.0, -2.0, 2.0)).unwrap();
    let at = |i: usize, j: usize| img[i * 4 + j];
    assert_eq!(at(2, 2), 100, "c = 0 is in the set");
    assert_eq!(
        at(2, 0),
        100,
        "c = -2: z = 0, -2, 2, 2, ... and |z|² = 4 is not > 4"
    );
    assert_eq!(at(2, 1), 100, "c = -1: z = 0, -1, 0, -1, ...");
    assert_eq!(at(3, 2), 100, "c = i: z = 0, i, -1 + i, -i, -1 + i, ...");
    assert_eq!(at(2, 3), 3, "c = 1: z = 0, 1, 2, 5: |z_3|² = 25 > 4");
    assert_eq!(at(0, 0), 1, "c = -2 - 2i: |z_1|² = 8 > 4");
    // c = 2: z_2 = 6 is the first escape (|z_1|² = 4 is not > 4); c = 4 escapes at z_1.
    let row = mandelbrot(&c, 4, 1, 50, window(-2.0, 6.0, 0.0, 1.0)).unwrap();
    assert_eq!(row, vec![50, 50, 2, 1]);
    // Far outside: everything escapes at z_1 = c.
    let far = mandelbrot(&c, 16, 9, 65535, window(10.0, 20.0, 10.0, 20.0)).unwrap();
    assert!(far.iter().all(|&v| v == 1));
    // max_iter = 1: the only iteration is z_0 = 0, which never escapes.
    let one = mandelbrot(&c, 16, 9, 1, Window::default()).unwrap();
    assert!(one.iter().all(|&v| v == 1));
}

#[test]
fn identical_for_every_thread_setting() {
    let (w, h, m) = (401u64, 300u64, 300u64);
    let first = mandelbrot(&ctx(Threads::Caller), w, h, m, Window::default()).unwrap();
    assert_eq!(first.len(), (w * h) as usize);
    assert!(
        (w * h) as usize > 8 * task_pixels(m as u32),
        "the pool must really be used"
    );
    for t in settings() {
        assert_eq!(
            mandelbrot(&ctx(t), w, h, m, Window::default()).unwrap(),
            first,
            "{t:?}"
        );
    }
}

#[test]
fn task_sizes() {
    assert_eq!(task_pixels(1), 960);
    assert_eq!(task_pixels(256), 960);
    assert_eq!(task_pixels(16384), 960);
    assert_eq!(task_pixels(32768), 480);
    assert_eq!(task_pixels(65535), 240);
    for m in [1, 7, 255, 1000, 5000, 20000, 65535] {
        let t = task_pixels(m);
        assert_eq!(t % 48, 0);
        assert!((48..=960).contains(&t));
        assert!(t as u64 * u64::from(m) <= TASK_WORK);
    }
}

fn invalid_arg(r: Result<Vec<u16>>) -> &'static str {
    match r {
        Err(Error::InvalidArgument { arg, .. }) => arg,
        other => panic!("expected InvalidArgument, got {:?}", other.map(|v| v.len())),
    }
}

#[test]
fn bad_arguments() {
    let c = ctx(Threads::Caller);
    let d = Window::default();
    assert_eq!(invalid_arg(mandelbrot(&c, 0, 5, 10, d)), "width");
    assert_eq!(invalid_arg(mandelbrot(&c, 5, 0, 10, d)), "height");
    assert_eq!(invalid_arg(mandelbrot(&c, 5, 5, 0, d)), "max_iter");
    assert_eq!(invalid_arg(mandelbrot(&c, 5, 5, 65536, d)), "max_iter");
    assert_eq!(invalid_arg(mandelbrot(&c, 5, 5, u64::MAX, d)), "max_iter");
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(
            invalid_arg(mandelbrot(&c, 5, 5, 10, Window { xmin: bad, ..d })),
            "xmin"
        );
        assert_eq!(
            invalid_arg(mandelbrot(&c, 5, 5, 10, Window { xmax: bad, ..d })),
            "xmax"
        );
        assert_eq!(
            invalid_arg(mandelbrot(&c, 5, 5, 10, Window { ymin: bad, ..d })),
            "ymin"
        );
        assert_eq!(
            invalid_arg(mandelbrot(&c, 5, 5, 10, Window { ymax: bad, ..d })),
            "ymax"
        );
    }
    assert_eq!(
        invalid_arg(mandelbrot(&c, 5, 5, 10, window(1.0, 1.0, 0.0, 1.0))),
        "xmax"
    );
    assert_eq!(
        invalid_arg(mandelbrot(&c, 5, 5, 10, window(2.0, 1.0, 0.0, 1.0))),
        "xmax"
    );
    assert_eq!(
        invalid_arg(mandelbrot(&c, 5, 5, 10, window(0.0, 1.0, 3.0, -3.0))),
        "ymax"
    );
    let huge = window(-f64::MAX, f64::MAX, 0.0, 1.0);
    assert_eq!(invalid_arg(mandelbrot(&c, 5, 5, 10, huge)), "xmax");
    let huge = window(0.0, 1.0, -f64::MAX, f64::MAX);
    assert_eq!(invalid_arg(mandelbrot(&c, 5, 5, 10, huge)), "ymax");
    // The message names the argument.
    let err = mandelbrot(&c, 5, 5, 10, window(0.0, 1.0, f64::NAN, 1.0)).unwrap_err();
    assert_eq!(err.to_string(), "ymin must be finite, got NaN");
}

#[test]
fn validate_gives_the_errors_mandelbrot_gives() {
    let c = ctx(Threads::Caller);
    let d = Window::default();
    let cases = [
        (0, 5, 10, d),
        (5, 0, 10, d),
        (5, 5, 0, d),
        (5, 5, 65536, d),
        (5, 5, 10, window(f64::NAN, 1.0, 0.0, 1.0)),
        (5, 5, 10, window(1.0, 1.0, 0.0, 1.0)),
        (5, 5, 10, window(0.0, 1.0, -f64::MAX, f64::MAX)),
        (u64::MAX, u64::MAX, 10, d),
        (1 << 32, 2, 10, d),
    ];
    for (w, h, it, win) in cases {
        assert_eq!(
            validate(w, h, it, win).unwrap_err(),
            mandelbrot(&c, w, h, it, win).unwrap_err(),
            "{w} x {h}, max_iter {it}, {win:?}"
        );
    }
    assert_eq!(validate(5, 5, 10, d), Ok(()));
}

#[test]
fn too_large_is_an_overflow_error_before_any_work() {
    let c = ctx(Threads::Pool);
    let start = Instant::now();
    for (w, h) in [
        (1_000_000, 1_000_000),
        (u64::MAX, 1),
        (u64::MAX, u64::MAX),
        (1 << 32, 2),
        (65_537, 65_536),
    ] {
        match mandelbrot(&c, w, h, 256, Window::default()) {
            Err(Error::Overflow(_)) => {}
            other => panic!("{w} x {h}: {:?}", other.map(|v| v.len())),
        }
    }
    assert!(start.elapsed() < Duration::from_secs(5), "hang detector");
}

#[test]
fn a_cancelled_call_stops_promptly() {
    // ~minutes of work (4000 x 4000 at max_iter 65535); cancelled from another thread.
    let c = ctx(Threads::Pool);
    let start = Instant::now();
    let outcome = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            c.cancel();
        });
        mandelbrot(&c, 4000, 4000, 65535, Window::default())
    });
    assert!(matches!(outcome, Err(Error::Cancelled)));
    assert!(start.elapsed() < Duration::from_secs(5), "hang detector");
}

#[test]
fn the_calling_thread_polls_between_short_tasks() {
    // threads=1: the poll hook runs between tasks; it asks to stop on its first call (20 ms in).
    let polls = AtomicUsize::new(0);
    let poll = |_progress: (u64, u64)| {
        polls.fetch_add(1, Ordering::Relaxed);
        true
    };
    let c = Ctx::new(Threads::Caller, Some(&poll));
    let start = Instant::now();
    let outcome = mandelbrot(&c, 4000, 4000, 65535, Window::default());
    assert!(matches!(outcome, Err(Error::Cancelled)));
    assert_eq!(polls.load(Ordering::Relaxed), 1);
    assert!(start.elapsed() < Duration::from_secs(5), "hang detector");
}
