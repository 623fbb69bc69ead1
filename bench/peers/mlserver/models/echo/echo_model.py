"""Echo model for the MLServer benchmark peer.

Returns its first input unchanged as output ``OUTPUT``: same datatype, same
shape and the very same data object the server decoded from the request
(a list of ``str`` for REST/JSON, a list of ``bytes`` for gRPC). Nothing is
decoded to numpy and nothing is copied here, so the work measured is
MLServer's own request/response handling.
"""

from mlserver import MLModel
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput


class EchoModel(MLModel):
    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        inp = payload.inputs[0]
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                ResponseOutput(
                    name="OUTPUT",
                    shape=inp.shape,
                    datatype=inp.datatype,
                    data=inp.data,
                )
            ],
        )
