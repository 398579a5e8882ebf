"""`planted body`: body model files. `planted body import PATH` converts the user's SMPL .pkl."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("body", help="body model files: import your own SMPL")
    actions = parser.add_subparsers(dest="body_command", metavar="ACTION")
    parser.set_defaults(run=lambda args: parser.print_help() or 0)

    importer = actions.add_parser(
        "import",
        help="convert SMPL_{NEUTRAL,MALE,FEMALE}.pkl into Planted's body model .npz (no pickled code runs)",
    )
    importer.add_argument("path", metavar="PATH", help="an SMPL model .pkl from SMPL's website")
    importer.add_argument("-o", "--out", metavar="OUT", help="output .npz (default: beside PATH, same name)")
    importer.add_argument("--gender", choices=("neutral", "male", "female"),
                          help="the model's gender (default: from the file name)")
    importer.add_argument("--h36m-regressor", metavar="NPY",
                          help="SPIN's J_regressor_h36m.npy for exact Human3.6M/LSP joints (default: approximated)")
    importer.set_defaults(run=run_import)


def run_import(args: argparse.Namespace) -> int:
    from engine.body.model import load_body_model
    from engine.body.smpl_pickle import import_smpl

    out = import_smpl(args.path, args.out, gender=args.gender, h36m_regressor_path=args.h36m_regressor)
    model = load_body_model(out)
    print(f"wrote {out} (id {model.model_id}, {model.num_vertices} vertices, "
          f"{model.num_left_contact_vertices}+{len(model.right_sole_ids)} sole vertices)")
    print(f"use it with: planted --body-model {out} ...   or   export PLANTED_BODY_MODEL={out}")
    return 0
