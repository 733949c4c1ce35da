"""The paper's table beside the course's: every row says its chance level, bad input is refused."""
import pytest

from course_lib.attacks import paper


def test_rows_put_the_paper_first_and_the_course_after_with_chance():
    rows = paper.comparison_rows({"target_resnet": 0.9, "target_small": 0.7},
                                 {"blur": 1.0, "square": 0.93, "t_mask": 0.97}, aux_target="target_resnet",
                                 n_classes=15, image_size=32, compute="CPU")
    assert [r["setting"] for r in rows] == ["paper, VGG16", "paper, ResNet-152", "paper, face.evoLVe",
                                           "course, target_resnet", "course, target_small"]
    assert rows[1]["GMI top-1"] == 0.44 and rows[1]["+square"] == 0.80 and rows[0]["chance"] == 0.001
    assert rows[3]["+blur"] == 1.0 and rows[4]["+blur"] == "–"
    assert rows[3]["chance"] == pytest.approx(1 / 15) and rows[3]["size"] == "32x32"


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="blur, square, t_mask"):
        paper.comparison_rows({"a": 0.5}, {"blur": 1.0}, aux_target="a", n_classes=15, image_size=32, compute="")
    with pytest.raises(ValueError, match="aux_target 'b'"):
        paper.comparison_rows({"a": 0.5}, dict.fromkeys(paper.AUX_KINDS, 0.5), aux_target="b", n_classes=15,
                              image_size=32, compute="")


def test_lift_over_chance():
    assert paper.lift_over_chance(0.44, 1000) == pytest.approx(440)
    assert paper.lift_over_chance(0.8, 15) == pytest.approx(12)
    with pytest.raises(ValueError):
        paper.lift_over_chance(1.5, 15)
