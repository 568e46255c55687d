"""eddpm predict: the model's head predictions for each input, as TSV on stdout."""

from __future__ import annotations

from typing import Annotated, Iterator

import typer

from eddpm_cli._errors import handle_errors
from eddpm_cli._options import (
    DEFAULT_MAX_IMAGE_PIXELS, BatchOpt, CompileOpt, DeviceOpt, Precision, PrecisionOpt,
    FormatOpt, IdColumnOpt, InputsArg, MaxImagePixelsOpt, ModelOpt, SequenceColumnOpt,
    TokensPerBatchOpt, format_value,
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
    tokens_per_batch: TokensPerBatchOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = Precision.auto,
    compile_networks: CompileOpt = False,
) -> None:
    """A header row, then one row per input: its id and every head's prediction from mu(x).

    Regression heads (protein fitness) give one column of values in the training units;
    classification heads give one probability column per class (HEAD:CLASS), or with --argmax
    one column with the most likely class.
    """
    from eddpm_cli._common import Placement, read_with_model
    from eddpm_cli._inputs import protein_options, split_ids
    from eddpm_cli._output import write_tsv

    inputs, net = read_with_model(
        sources, model, Placement(device, precision.value, compile_networks),
        format_value(input_format), protein_options(sequence_column, id_column), max_image_pixels,
        stream=True,
    )
    net.head()  # exits 2 with a hint when the model has no head
    from models import inference

    header = ["id"]
    for name, head in net.heads.items():
        config = head.config
        if config.kind == "regression" or argmax:
            header.append(name)
        else:
            header.extend(f"{name}:{c}" for c in config.classes)

    def rows() -> Iterator[list[str]]:
        yield header
        examples, chunk_ids = split_ids(inputs.chunks(inference.CHUNK_SIZE))
        for predictions in inference.predict_stream(net, examples, batch_size, tokens_per_batch,
                                                    inputs.repeated()):
            columns = []
            for name, values in predictions.items():
                config = net.heads[name].config
                if config.kind == "regression":
                    columns.append([f"{v:.6g}" for v in values])
                elif argmax:
                    columns.append([config.classes[int(row.argmax())] for row in values])
                else:
                    columns.extend([f"{p:.6g}" for p in values[:, k]]
                                   for k in range(len(config.classes)))
            ids = chunk_ids.popleft()
            yield from ([i, *cells] for i, *cells in zip(ids, *columns))

    write_tsv(rows())
