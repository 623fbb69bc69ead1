"""Triton Python-backend identity model: OUTPUT is the INPUT tensor, unchanged."""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            data = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            out = pb_utils.Tensor("OUTPUT", data)
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
