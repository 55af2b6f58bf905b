//! The output size when downstream fixes only one side: keep the display aspect ratio
//! (`width * par_n / (height * par_d)`) of the input, as `videoscale` does.

/// A size and pixel aspect ratio (numerator, denominator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    pub width: u32,
    pub height: u32,
    pub par: (u32, u32),
}

/// The height that keeps `input`'s display aspect ratio at `width` and pixel aspect `par`.
pub(super) fn height_for(input: Shape, width: u32, par: (u32, u32)) -> u32 {
    // dar_in = w_in * pn_in / (h_in * pd_in) = width * pn / (h * pd)
    let num = width as u128 * par.0 as u128 * input.height as u128 * input.par.1 as u128;
    let den = par.1 as u128 * input.width as u128 * input.par.0 as u128;
    rounded(num, den)
}

/// The width that keeps `input`'s display aspect ratio at `height` and pixel aspect `par`.
pub(super) fn width_for(input: Shape, height: u32, par: (u32, u32)) -> u32 {
    let num = height as u128 * input.width as u128 * input.par.0 as u128 * par.1 as u128;
    let den = input.height as u128 * input.par.1 as u128 * par.0 as u128;
    rounded(num, den)
}

fn rounded(num: u128, den: u128) -> u32 {
    if den == 0 {
        return 1;
    }
    ((num + den / 2) / den).clamp(1, i32::MAX as u128) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const HD: Shape = Shape {
        width: 1920,
        height: 1080,
        par: (1, 1),
    };

    #[test]
    fn one_side_keeps_the_display_aspect_ratio() {
        assert_eq!(height_for(HD, 1280, (1, 1)), 720);
        assert_eq!(width_for(HD, 480, (1, 1)), 853);
        assert_eq!(width_for(HD, 360, (1, 1)), 640);
        // Anamorphic output pixels: twice as wide, half the width.
        assert_eq!(width_for(HD, 1080, (2, 1)), 960);
        let dv = Shape {
            width: 720,
            height: 576,
            par: (16, 15),
        };
        assert_eq!(height_for(dv, 768, (1, 1)), 576);
    }

    #[test]
    fn degenerate_input_gives_one_pixel_not_a_panic() {
        let zero = Shape {
            width: 0,
            height: 0,
            par: (0, 1),
        };
        assert_eq!(width_for(zero, 480, (1, 1)), 1);
        assert_eq!(height_for(zero, 640, (1, 1)), 1);
    }
}
