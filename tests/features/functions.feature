Feature: Calls of the app's WebAssembly functions
  As a user of swirl
  I want 1.0 tasks to call the functions of my app
  So that workflows run sandboxed code in-process

  # A call names a function of the manifest; `with` is its JSON input
  Scenario: Call A Function Of The App
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: call-function
      version: '1.0.0'
    do:
      - echo:
          call: probe
          with:
            action: echo
            value: ${ .name }
          output:
            as: '{ echoed: .value, function: .function }'
    """
    And the app has the test function 'probe'
    And given the workflow input is:
    """yaml
    name: Ada
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    echoed: Ada
    function: probe
    """

  # `name@default` is the same function: the manifest is the default catalog
  Scenario: Call A Function Through The Default Catalog
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: call-function-catalog
      version: '1.0.0'
    do:
      - echo:
          call: probe@default
          with:
            action: echo
            value: 7
          output:
            as: .value
    """
    And the app has the test function 'probe'
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    7
    """

  # A function's failure code becomes a 1.0 error located at the task
  Scenario: A Function Failure Is A Located Error
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: call-function-fails
      version: '1.0.0'
    do:
      - check:
          call: probe
          with:
            action: fail
            code: SYS.InvalidParameter
            message: the order has no items
    """
    And the app has the test function 'probe'
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/validation
    status: 400
    title: the order has no items
    instance: /do/0/check
    """
