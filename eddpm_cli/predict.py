"""eddpm predict: the model's head predictions for each input, as TSV on stdout."""

from __future__ import annotations

from typing import Annotated

import typer

from eddpm_cli._errors import handle_errors
from eddpm_cli._options import (
    DEFAULT_MAX_IMAGE_PIXELS, BatchOpt, DeviceOpt, FormatOpt, IdColumnOpt, InputsArg,
    MaxImagePixelsOpt, ModelOpt, SequenceColumnOpt, format_value,
)


@handle_errors
def predict(
    sources: InputsArg,
    model: ModelOpt = None,
    argmax: Annotated[bool, typer.Option("--argmax", help="Classification heads: print the most likely label instead of one probability column per class.")] = False,
    input_format: FormatOpt = None,
    sequence_column: SequenceColumnOpt = "sequence",
    id_column: IdColumnOpt = None,
    max_image_pixels: MaxImagePixelsOpt = DEFAULT_MAX_IMAGE_PIXELS,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = None,
) -> None:
    """A header row, then one row per input: its id and every head's prediction from mu(x).

    Regression heads (protein fitness) give one column of values in the training units;
    classification heads give one probability column per class (HEAD:CLASS), or with --argmax
    one column with the most likely class.
    """
    from eddpm_cli._common import read_with_model
    from eddpm_cli._inputs import protein_options
    from eddpm_cli._output import write_tsv

    inputs, net = read_with_model(
        sources, model, device, format_value(input_format),
        protein_options(sequence_column, id_column), max_image_pixels,
    )
    net.head()  # exits 2 with a hint when the model has no head
    from models import inference

    predictions = inference.predict(net, inputs.examples, batch_size)
    header, columns = ["id"], []
    for name, values in predictions.items():
        config = net.heads[name].config
        if config.kind == "regression":
            header.append(name)
            columns.append([f"{v:.6g}" for v in values])
        elif argmax:
            header.append(name)
            columns.append([config.classes[int(row.argmax())] for row in values])
        else:
            header.extend(f"{name}:{c}" for c in config.classes)
            columns.extend([f"{p:.6g}" for p in values[:, k]] for k in range(len(config.classes)))
    write_tsv([header, *([i, *cells] for i, *cells in zip(inputs.ids, *columns))])
