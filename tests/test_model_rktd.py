"""RKTD (Eq. 7): the reversed kinematic orders, the tree rule, and the per-sample choice within one batch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.body.joints import SMPL_PARENTS
from training.config import ModelConfig
from training.model.rktd import (
    BASE_TREE,
    LEFT_TREE,
    RIGHT_TREE,
    RKTDecoder,
    base_ancestors,
    prediction_order,
    rerooted_ancestors,
    select_tree,
    teacher_tree,
    training_tree_index,
)


def test_base_tree_is_ktd_root_to_leaves():
    anc = base_ancestors()
    assert anc[0] == [] and anc[10] == [0, 1, 4, 7] and anc[22] == [0, 3, 6, 9, 13, 16, 18, 20]
    assert prediction_order(anc)[:1] == [0]
    assert max(len(a) for a in anc) == 8


def test_reversed_trees_match_paper_notes():
    left = rerooted_ancestors(10)
    assert [left[j] for j in (10, 7, 4, 1, 0)] == [[], [10], [10, 7], [10, 7, 4], [10, 7, 4, 1]]
    base = base_ancestors()
    for joint in set(range(24)) - {10, 7, 4, 1, 0}:
        assert left[joint] == [10, 7, 4, 1] + base[joint], joint
    right = rerooted_ancestors(11)
    assert [right[j] for j in (11, 8, 5, 2, 0)] == [[], [11], [11, 8], [11, 8, 5], [11, 8, 5, 2]]
    assert right[1] == [11, 8, 5, 2, 0] and right[4] == [11, 8, 5, 2, 0, 1]
    assert max(len(a) for a in left) == 12  # the hands: 1024 + 72 inputs at most
    order = prediction_order(left)
    assert order[:5] == [10, 7, 4, 1, 0]
    for joint in range(24):
        assert all(order.index(a) < order.index(joint) for a in left[joint])
    assert len(SMPL_PARENTS) == 24


def _contacts(counts: list[tuple[int, int]], per_side: int = 4) -> torch.Tensor:
    """Probabilities (B, 2 * per_side): the first c_l left and c_r right vertices at 0.9, others at 0.1."""
    out = torch.full((len(counts), 2 * per_side), 0.1)
    for b, (left, right) in enumerate(counts):
        out[b, :left] = 0.9
        out[b, per_side:per_side + right] = 0.9
    return out


def test_tree_rules():
    counts = [(3, 1), (1, 3), (3, 0), (0, 3), (0, 0), (2, 2), (4, 3)]
    # the default ("max"): the foot with more contact vertices roots the tree; single stance reverses from
    # the planted foot
    rule_max = select_tree(_contacts(counts), num_left=4).tolist()
    assert rule_max == [LEFT_TREE, RIGHT_TREE, LEFT_TREE, RIGHT_TREE, BASE_TREE, BASE_TREE, LEFT_TREE]
    stance = select_tree(_contacts(counts), num_left=4, rule="stance").tolist()
    assert stance == [BASE_TREE, BASE_TREE, LEFT_TREE, RIGHT_TREE, BASE_TREE, BASE_TREE, BASE_TREE]
    eq7 = select_tree(_contacts(counts), num_left=4, rule="eq7").tolist()
    assert eq7 == [LEFT_TREE, RIGHT_TREE, BASE_TREE, BASE_TREE, BASE_TREE, BASE_TREE, LEFT_TREE]
    # the threshold counts probabilities >= 0.5 (PAPER_NOTES choice 8), so many weak contacts do not count
    weak = torch.tensor([[0.49, 0.49, 0.49, 0.49, 0.5, 0.1, 0.1, 0.1]])
    assert select_tree(weak, num_left=4).tolist() == [RIGHT_TREE]
    assert select_tree(weak, num_left=4, rule="eq7").tolist() == [BASE_TREE]
    with pytest.raises(ValueError, match="tree rule"):
        select_tree(weak, num_left=4, rule="min")


def test_single_stance_reverses_from_the_planted_foot_in_the_default_config():
    assert ModelConfig().tree_rule == "max"
    # left foot planted (all its vertices), right foot in the air; and the mirror
    labels = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]])
    assert teacher_tree(labels, torch.ones(2, dtype=torch.bool), num_left=4).tolist() == [LEFT_TREE, RIGHT_TREE]
    decoder = _controlled_decoder()
    out = decoder(torch.where(labels > 0.5, 5.0, -5.0))
    assert out["pred_tree"].tolist() == [LEFT_TREE, RIGHT_TREE]


def test_teacher_tree_uses_labels_only_where_a_sample_has_them():
    labels = _contacts([(3, 1), (1, 3), (3, 1)])
    tree = teacher_tree(labels, torch.tensor([True, True, False]), num_left=4)
    assert tree.tolist() == [LEFT_TREE, RIGHT_TREE, BASE_TREE]
    tree = teacher_tree(labels, torch.tensor([True, True, False]), num_left=4, unlabelled=-1)
    assert tree.tolist() == [LEFT_TREE, RIGHT_TREE, -1]


def test_training_tree_index_from_a_batch():
    labels = _contacts([(4, 0), (0, 4), (4, 0), (0, 0)])
    batch = {"image": torch.zeros(4, 3, 8, 6), "gt_contact": labels,
             "has_contact": torch.tensor([True, True, False, True])}
    assert training_tree_index(batch, num_left=4).tolist() == [LEFT_TREE, RIGHT_TREE, BASE_TREE, BASE_TREE]
    assert training_tree_index(batch, num_left=4, unlabelled=-1).tolist() == [LEFT_TREE, RIGHT_TREE, -1, BASE_TREE]
    # a batch without contact labels (3DPW-like): every sample unlabelled
    no_labels = {"image": torch.zeros(2, 3, 8, 6)}
    assert training_tree_index(no_labels, num_left=4).tolist() == [BASE_TREE, BASE_TREE]
    assert training_tree_index(no_labels, num_left=4, unlabelled=-1).tolist() == [-1, -1]
    # what the network does with it: forced where labelled, predicted where -1
    decoder = _controlled_decoder()
    feature = torch.where(_contacts([(0, 4), (0, 4), (0, 4), (0, 4)]) > 0.5, 5.0, -5.0)  # predicts right
    out = decoder(feature, training_tree_index(batch, num_left=4, unlabelled=-1))
    assert out["pred_tree"].tolist() == [LEFT_TREE, RIGHT_TREE, RIGHT_TREE, BASE_TREE]
    assert out["pred_contact_tree"].tolist() == [RIGHT_TREE] * 4


def _controlled_decoder(per_side: int = 4) -> RKTDecoder:
    """A decoder whose contact logits are relu(feature) - 1, so each sample's feature sets its contacts."""
    vc = 2 * per_side
    decoder = RKTDecoder(vc, vc, per_side, "rktd", hidden=16, dropout=0.0, contact_hidden=vc)
    with torch.no_grad():
        first, last = decoder.contact_head[0], decoder.contact_head[2]
        first.weight.copy_(torch.eye(vc))
        first.bias.zero_()
        last.weight.copy_(torch.eye(vc))
        last.bias.fill_(-1.0)
        for tree in decoder.trees:  # distinct, non-trivial weights per tree
            for module in tree.modules():
                if isinstance(module, nn.Linear):
                    nn.init.normal_(module.weight, std=0.3)
    return decoder.eval()


def test_decoder_picks_each_samples_tree_within_one_batch():
    torch.manual_seed(4)
    counts = [(3, 1), (1, 3), (3, 0), (0, 0), (2, 2), (1, 4)]
    decoder = _controlled_decoder()
    feature = torch.where(_contacts(counts) > 0.5, 5.0, -5.0)
    out = decoder(feature)
    expected = [LEFT_TREE, RIGHT_TREE, LEFT_TREE, BASE_TREE, BASE_TREE, RIGHT_TREE]
    assert out["pred_tree"].tolist() == expected
    hidden = decoder.trunk(feature)
    per_tree = [tree(hidden) for tree in decoder.trees]
    for b, tree in enumerate(expected):
        assert torch.equal(out["pred_rot6d"][b], per_tree[tree][b])
        for other in set(range(3)) - {tree}:
            assert not torch.allclose(out["pred_rot6d"][b], per_tree[other][b])
    # teacher forcing: -1 keeps the predicted tree, others override it per sample
    forced = decoder(feature, torch.tensor([0, 0, 2, -1, 1, -1]))
    assert forced["pred_tree"].tolist() == [0, 0, 2, BASE_TREE, 1, RIGHT_TREE]
    assert torch.equal(forced["pred_rot6d"][4], per_tree[1][4])


def test_each_joint_depends_only_on_its_ancestors_in_the_chosen_order():
    torch.manual_seed(5)
    decoder = _controlled_decoder()
    tree = decoder.trees[LEFT_TREE]
    hidden = torch.randn(1, 16)
    base = tree(hidden)
    # perturbing the left knee's prediction changes only joints downstream of it in the left-rooted order
    with torch.no_grad():
        tree.feature_part.bias[4 * 6] += 1.0
    changed = (tree(hidden) - base).abs().amax(dim=-1)[0] > 0
    downstream = {j for j, anc in enumerate(tree.ancestors) if 4 in anc} | {4}
    assert set(torch.nonzero(changed).flatten().tolist()) == downstream
    assert {1, 0, 2, 3, 15, 22} <= downstream and not ({10, 7} & downstream)


@pytest.mark.parametrize("decoder_kind", ["ktd", "independent"])
def test_non_reversible_decoders_always_use_the_base_tree(decoder_kind):
    decoder = RKTDecoder(8, 8, 4, decoder_kind, hidden=16, dropout=0.0, contact_hidden=8).eval()
    out = decoder(torch.randn(5, 8))
    assert out["pred_tree"].tolist() == [BASE_TREE] * 5
