Feature: Reusable tasks of use.functions
  As a user of swirl
  I want to define a task once in use.functions and call it by name with arguments
  So that a workflow repeats no task definition

  # The specification's example: the call's `with` is the reusable task's
  # input, checked against its input schema, and fills the endpoint
  Scenario: Call A Reusable HTTP Call
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: samples
      name: call-custom-function-inline
      version: '0.1.0'
    use:
      functions:
        getPetById:
          input:
            schema:
              document:
                type: object
                properties:
                  petId:
                    type: integer
                required: [ petId ]
          call: http
          with:
            method: get
            endpoint: https://petstore.swagger.io/v2/pet/{petId}
    do:
      - getPet:
          call: getPetById
          with:
            petId: 69
    """
    When the workflow is executed
    Then the workflow output should have a 'id' property with value:
    """yaml
    69
    """
    And getPet should run first
    And getPetById should run after getPet

  # Called twice with different arguments, from a loop; the reusable task
  # calls a function of the app
  Scenario: Call A Reusable Task Twice
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: reusable-twice
      version: '1.0.0'
    use:
      functions:
        shout:
          call: probe
          with:
            action: echo
            value: ${ .word + "!" }
          output:
            as: .value
    do:
      - each:
          for:
            each: word
            in: .words
          do:
            - say:
                call: shout
                with:
                  word: ${ $word }
                export:
                  as: '$context + [ . ]'
      - collect:
          set:
            said: ${ $context }
    """
    And the app has the test function 'probe'
    And given the workflow input is:
    """yaml
    words: [ hello, world ]
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    said: [ hello!, world! ]
    """

  # The reusable task's input schema turns down the call's arguments: the
  # validation error points at the reusable task, and a try catches it
  Scenario: Arguments Not Matching A Reusable Task's Schema
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: reusable-schema
      version: '1.0.0'
    use:
      functions:
        double:
          input:
            schema:
              document:
                type: object
                required: [ number ]
                properties:
                  number:
                    type: number
          set: ${ .number * 2 }
    do:
      - ok:
          call: double
          with:
            number: 21
          export:
            as: '{ doubled: . }'
      - wrong:
          try:
            - attempt:
                call: double
                with:
                  number: twenty
          catch:
            as: problem
            do:
              - explain:
                  set:
                    instance: ${ $problem.instance }
                    status: ${ $problem.status }
                    doubled: ${ $context.doubled }
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    instance: /use/functions/double
    status: 400
    doubled: 42
    """

  # A name of use.functions comes before the same name in the manifest
  Scenario: A Reusable Task Shadows A Function Of The App
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: reusable-shadows
      version: '1.0.0'
    use:
      functions:
        probe:
          set:
            from: use.functions
            given: ${ .given }
    do:
      - direct:
          call: probe
          with:
            action: echo
            given: 1
    """
    And the app has the test function 'probe'
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    from: use.functions
    given: 1
    """
